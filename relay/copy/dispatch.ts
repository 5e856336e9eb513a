/**
 * The copy pool's decisions (pool.ts), pure: which worker takes the next
 * copy, when a spare worker is started, how long a copy may take, and what
 * a failed copy does to its message.
 */

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
