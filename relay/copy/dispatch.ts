/**
 * The copy pool's decisions (pool.ts), pure: which copy goes next (in turn by
 * account), which worker takes it, when a spare worker is started, how long a
 * copy may take, and what a failed copy does to its message.
 */

/**
 * Copies waiting for a worker, taken in turn by account, one each, and first come first
 * served within an account: a burst from one account waits behind every other account's next
 * copy instead of in front of it (docs/configuration.md, "Delivery slots").
 */
export class TurnQueue<T> {
  private readonly queues = new Map<string, T[]>();
  /** Accounts with copies waiting, in turn order; `turn` is the next one's place. */
  private ring: string[] = [];
  private turn = 0;
  private waiting = 0;

  get length(): number {
    return this.waiting;
  }

  push(account: string, item: T): void {
    const queue = this.queues.get(account);
    if (queue) queue.push(item);
    else {
      this.queues.set(account, [item]);
      this.ring.push(account);
    }
    this.waiting++;
  }

  /** The item `shift` would take. */
  peek(): T | undefined {
    const account = this.ring[this.turn];
    return account === undefined ? undefined : this.queues.get(account)?.[0];
  }

  /** Takes the next account's first item; that account's turn is over. */
  shift(): T | undefined {
    const account = this.ring[this.turn];
    if (account === undefined) return undefined;
    const queue = this.queues.get(account) as T[];
    const item = queue.shift();
    this.waiting--;
    if (queue.length === 0) {
      this.queues.delete(account);
      this.ring.splice(this.turn, 1);
    } else this.turn++;
    if (this.turn >= this.ring.length) this.turn = 0;
    return item;
  }

  /** Takes out every item `matches` picks, in queue order within each account. */
  remove(matches: (item: T) => boolean): T[] {
    const removed: T[] = [];
    for (const [account, queue] of this.queues) {
      const kept: T[] = [];
      for (const item of queue) (matches(item) ? removed : kept).push(item);
      if (kept.length === queue.length) continue;
      this.waiting -= queue.length - kept.length;
      if (kept.length > 0) {
        this.queues.set(account, kept);
        continue;
      }
      this.queues.delete(account);
      const at = this.ring.indexOf(account);
      this.ring.splice(at, 1);
      if (at < this.turn) this.turn--;
    }
    if (this.turn >= this.ring.length) this.turn = 0;
    return removed;
  }
}

export interface WorkerView {
  /** Busy since this time (ms), making one copy; undefined when idle. */
  busySince: number | undefined;
  /** The message of the last copy it made (its bytes may still be kept there). */
  lastMessage: string | undefined;
}

export interface DispatchLimits {
  /** Workers the pool keeps. */
  size: number;
  /** Workers it may start beyond `size` while others are stuck on slow copies. */
  spares: number;
  /** A worker busy on one copy for this long counts as stuck. */
  spareAfterMs: number;
}

export type DispatchDecision =
  /** Give the copy to this (idle) worker. */
  | { kind: "worker"; index: number }
  /** Start a worker for it (`spare`: beyond the pool's size, retired when idle). */
  | { kind: "start"; spare: boolean }
  /** Every worker is busy: wait for one; `recheckAt`: a spare may be started then. */
  | { kind: "wait"; recheckAt?: number };

/**
 * Next copy of `messageId`: an idle worker that made the message's last copy (it read the
 * bytes already), else any idle worker, else a new one while fewer than `size` run. When all
 * are busy, every worker stuck past `spareAfterMs` earns one spare (up to `spares`), so a slow
 * copy cannot hold up the copies queued behind it; otherwise wait.
 */
export function chooseWorker(
  workers: readonly WorkerView[],
  messageId: string,
  limits: DispatchLimits,
  now: number,
): DispatchDecision {
  let idle = -1;
  for (let i = 0; i < workers.length; i++) {
    const worker = workers[i] as WorkerView;
    if (worker.busySince !== undefined) continue;
    if (worker.lastMessage === messageId) return { kind: "worker", index: i };
    if (idle === -1) idle = i;
  }
  if (idle !== -1) return { kind: "worker", index: idle };
  if (workers.length < limits.size) return { kind: "start", spare: false };
  let stuck = 0;
  let nextStuckAt = Number.POSITIVE_INFINITY;
  for (const worker of workers) {
    const since = worker.busySince as number;
    if (now - since >= limits.spareAfterMs) stuck++;
    else nextStuckAt = Math.min(nextStuckAt, since + limits.spareAfterMs);
  }
  const healthy = workers.length - stuck;
  if (healthy < limits.size && workers.length < limits.size + limits.spares)
    return { kind: "start", spare: true };
  if (workers.length >= limits.size + limits.spares || !Number.isFinite(nextStuckAt)) return { kind: "wait" };
  return { kind: "wait", recheckAt: nextStuckAt };
}

export interface CopyDeadline {
  /** Any copy, however small. */
  seconds: number;
  /** Added per MiB of the message (a big message's copy takes longer honestly). */
  secondsPerMiB: number;
}

export const DEFAULT_COPY_DEADLINE: CopyDeadline = { seconds: 30, secondsPerMiB: 0.5 };

/** Milliseconds one copy of a `size`-byte message may take in its worker. */
export function copyDeadlineMs(size: number, deadline: CopyDeadline): number {
  return Math.ceil((deadline.seconds + (deadline.secondsPerMiB * size) / (1024 * 1024)) * 1000);
}

/** Why a message was taken out of the queue (the `reason` label of relayfleet_quarantined_total). */
export type QuarantineReason = "copy_deadline" | "copy_crash" | "crash_loop";

/**
 * A worker that died making a copy may have died of something else (memory pressure from
 * another copy): the copy is tried once more on a fresh worker; a second loss is the
 * message's doing.
 */
export const COPY_WORKER_LOSSES_BEFORE_QUARANTINE = 2;
