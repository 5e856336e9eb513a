/**
 * The Redis connections of the operator: one Store per distinct Redis the
 * pools use (spec.redis url, or the URL in spec.redis.secretRef), opened when
 * a SenderRoute first publishes there and closed once no route publishes
 * there any more. A route is published to the Redis of the pools that use it
 * and to no other: the relays read only their own, and a table may carry a
 * smart host's credentials.
 */
import type { Store, StoreChange, Unsubscribe } from "../../relay/store/types.js";

export interface RedisTarget {
  url: string;
  cluster: boolean;
}

/** Identifies a connection; holds the URL's password, so it is never logged or shown (see redisLabel). */
export const targetKey = (target: RedisTarget): string =>
  `${target.cluster ? "cluster" : "single"} ${target.url}`;

/** host:port of a Redis URL: what logs, events and conditions may say about it. */
export function redisLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "6379"}`;
  } catch {
    return "(an unparsable URL)";
  }
}

export type StoreOpener = (target: RedisTarget) => Promise<Store>;

interface Entry {
  target: RedisTarget;
  store: Promise<Store>;
  /** Calls under way; an entry in use is never closed. */
  users: number;
  /** The operator's own --redis: opened at start, closed only at stop. */
  pinned: boolean;
  unsubscribe?: Unsubscribe;
}

export class StoreRegistry {
  private readonly entries = new Map<string, Entry>();
  private listener: ((change: StoreChange) => void) | undefined;

  constructor(private readonly opener: StoreOpener) {}

  /** Where every Store's changes go (blocked reports, route tables edited by someone else). */
  onChange(listener: ((change: StoreChange) => void) | undefined): void {
    this.listener = listener;
  }

  /** A Store already open (the operator's --redis), shared by pools that name the same URL. */
  pin(target: RedisTarget, store: Store): void {
    this.entries.set(targetKey(target), {
      target,
      store: Promise.resolve(store),
      users: 0,
      pinned: true,
      unsubscribe: store.onChange((change) => this.listener?.(change)),
    });
  }

  private entry(target: RedisTarget): Entry {
    const key = targetKey(target);
    const found = this.entries.get(key);
    if (found) return found;
    const entry: Entry = { target, store: Promise.resolve() as never, users: 0, pinned: false };
    entry.store = this.opener(target).then(
      (store) => {
        entry.unsubscribe = store.onChange((change) => this.listener?.(change));
        return store;
      },
      (error: unknown) => {
        // Not kept: the next use tries again.
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw new Error(`the Redis at ${redisLabel(target.url)} is unavailable: ${message(error)}`);
      },
    );
    this.entries.set(key, entry);
    return entry;
  }

  /** Runs `fn` with the target's Store, opening it if needed; it stays open at least until fn ends. */
  async use<T>(target: RedisTarget, fn: (store: Store) => Promise<T>): Promise<T> {
    const entry = this.entry(target);
    entry.users += 1;
    try {
      return await fn(await entry.store);
    } finally {
      entry.users -= 1;
    }
  }

  /** The Stores open now (a sweep looks only there). */
  async openStores(): Promise<{ key: string; target: RedisTarget; store: Store }[]> {
    const out: { key: string; target: RedisTarget; store: Store }[] = [];
    for (const [key, entry] of this.entries) {
      const store = await entry.store.catch(() => undefined);
      if (store) out.push({ key, target: entry.target, store });
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Closes the Stores nothing wants, pinned and busy ones aside; returns their labels. */
  async prune(wanted: ReadonlySet<string>): Promise<string[]> {
    const closed: string[] = [];
    for (const [key, entry] of [...this.entries]) {
      if (entry.pinned || entry.users > 0 || wanted.has(key)) continue;
      this.entries.delete(key);
      await this.close(entry);
      closed.push(redisLabel(entry.target.url));
    }
    return closed;
  }

  /** Closes every Store it opened; a pinned one only stops being listened to (its opener closes it). */
  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const entry of all) {
      if (entry.pinned) entry.unsubscribe?.();
      else await this.close(entry);
    }
  }

  private async close(entry: Entry): Promise<void> {
    entry.unsubscribe?.();
    const store = await entry.store.catch(() => undefined);
    await store?.close().catch(() => undefined);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
