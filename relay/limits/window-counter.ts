/**
 * In-memory fixed-window counters over a BoundedMap: a flood of distinct
 * clients (a botnet, or an IPv6 attacker walking its addresses) cannot grow
 * memory. Forgetting a key only lets that client count from zero again.
 */
import { BoundedMap } from "./bounded-map.js";

export interface WindowCounterOptions {
  /** Counts per key are kept for windows of this length. */
  windowMs: number;
  /** Most keys remembered at once. */
  maxKeys: number;
}

interface Slot {
  window: number;
  count: number;
}

export class WindowCounter {
  private readonly slots: BoundedMap<string, Slot>;

  constructor(private readonly options: WindowCounterOptions) {
    if (!(options.windowMs > 0)) throw new Error("a window counter needs a window");
    this.slots = new BoundedMap(options.maxKeys);
  }

  /** Counts one event unless the key already has `limit` in this window; true when it was counted. */
  take(key: string, limit: number, now: number): boolean {
    const window = Math.floor(now / this.options.windowMs);
    const existing = this.slots.get(key);
    const slot = existing && existing.window === window ? existing : { window, count: 0 };
    if (slot !== existing) this.slots.set(key, slot);
    if (slot.count >= limit) return false;
    slot.count++;
    return true;
  }

  get size(): number {
    return this.slots.size;
  }
}
