/**
 * The bounded in-memory queue of webhook POSTs of one process; no I/O, no
 * timers (the dispatcher owns those).
 *
 * - Deliveries wait ready (to be sent now) or parked (a retry waiting for its
 *   backoff). Both count against `capacity`; POSTs in flight do not (the
 *   dispatcher bounds those by its concurrency).
 * - When full, the delivery that entered the queue longest ago is dropped
 *   (a retry re-enters when it is parked), so a flood of new events, or a dead
 *   receiver's retries, cost memory that is bounded, never the event source's time.
 * - `take` hands out the oldest ready delivery among webhooks with fewer than
 *   `perHookLimit` POSTs in flight, so one slow receiver cannot hold every
 *   connection while the others wait.
 */
import type { WebhookRecord } from "../store/types.js";

export interface Delivery {
  hook: WebhookRecord;
  eventId: string;
  body: string;
  /** POSTs already made for it. */
  attempts: number;
  /** Set by the queue: its place in the age order. */
  seq?: number;
}

/** One webhook, across accounts. */
export function hookKey(hook: Pick<WebhookRecord, "account" | "id">): string {
  return `${hook.account}\n${hook.id}`;
}

export class DeliveryQueue<D extends Delivery = Delivery> {
  private nextSeq = 0;
  /** Every queued delivery, ready or parked, oldest entry first (Map keeps insertion order). */
  private readonly bySeq = new Map<number, D>();
  /** Ready deliveries per webhook, in seq order. */
  private readonly ready = new Map<string, D[]>();
  private readonly parked = new Set<D>();
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly capacity: number,
    private readonly perHookLimit: number,
  ) {}

  get size(): number {
    return this.bySeq.size;
  }

  /** Queues a delivery to send now; returns what was dropped to make room (oldest first). */
  add(delivery: D): D[] {
    this.enter(delivery);
    const key = hookKey(delivery.hook);
    const list = this.ready.get(key);
    if (list) list.push(delivery);
    else this.ready.set(key, [delivery]);
    return this.makeRoom();
  }

  /** Queues a retry that is not due yet; `ready` moves it to the ready side when it is. */
  park(delivery: D): D[] {
    this.enter(delivery);
    this.parked.add(delivery);
    return this.makeRoom();
  }

  /** A parked delivery is due; false if it is no longer queued (dropped meanwhile). */
  unpark(delivery: D): boolean {
    if (!this.parked.has(delivery)) return false;
    this.remove(delivery);
    // Same size as before: nothing to drop.
    this.add(delivery);
    return true;
  }

  /** The oldest ready delivery whose webhook has room, now counted in flight; undefined if none. */
  take(): D | undefined {
    let best: D | undefined;
    let bestKey = "";
    for (const [key, list] of this.ready) {
      const head = list[0];
      if (!head || (this.inFlight.get(key) ?? 0) >= this.perHookLimit) continue;
      if (!best || (head.seq ?? 0) < (best.seq ?? 0)) {
        best = head;
        bestKey = key;
      }
    }
    if (!best) return undefined;
    this.remove(best);
    this.inFlight.set(bestKey, (this.inFlight.get(bestKey) ?? 0) + 1);
    return best;
  }

  /** A delivery handed out by `take` has finished its POST. */
  finished(delivery: D): void {
    const key = hookKey(delivery.hook);
    const count = (this.inFlight.get(key) ?? 0) - 1;
    if (count > 0) this.inFlight.set(key, count);
    else this.inFlight.delete(key);
  }

  /** Empties the queue (shutdown); returns what was in it. */
  clear(): D[] {
    const all = [...this.bySeq.values()];
    this.bySeq.clear();
    this.ready.clear();
    this.parked.clear();
    return all;
  }

  private enter(delivery: D): void {
    delivery.seq = this.nextSeq++;
    this.bySeq.set(delivery.seq, delivery);
  }

  private remove(delivery: D): void {
    this.bySeq.delete(delivery.seq ?? -1);
    if (this.parked.delete(delivery)) return;
    const key = hookKey(delivery.hook);
    const list = this.ready.get(key);
    if (!list) return;
    // Usually the head: the oldest is dropped and taken first.
    const index = list.indexOf(delivery);
    if (index !== -1) list.splice(index, 1);
    if (list.length === 0) this.ready.delete(key);
  }

  private makeRoom(): D[] {
    const dropped: D[] = [];
    while (this.bySeq.size > this.capacity) {
      const oldest = this.bySeq.values().next().value as D;
      this.remove(oldest);
      dropped.push(oldest);
    }
    return dropped;
  }
}
