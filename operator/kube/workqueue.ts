/**
 * A de-duplicating, rate-limited work queue, after client-go's workqueue:
 * a key is queued at most once; a key being processed is never handed to a
 * second worker, and if it was added meanwhile it runs again afterwards;
 * failures come back after a per-key exponential backoff. Informer handlers
 * only add keys here, so nothing is lost to a handler that is not awaited.
 */

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** The delay before retry number `failures` (1-based), doubling and capped. Pure. */
export function backoffDelay(failures: number, options: BackoffOptions): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(options.baseMs * 2 ** exponent, options.maxMs);
}

export type Worker = (key: string) => Promise<{ requeueAfterMs?: number } | undefined>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private waiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly backoff: BackoffOptions = { baseMs: 200, maxMs: 60_000 }) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.wake();
  }

  /** Adds the key after `ms`; of several pending delayed adds for a key, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.due <= due) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  /** After a failure: back off per key. */
  addRateLimited(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = backoffDelay(failures, this.backoff);
    this.addAfter(key, delay);
    return delay;
  }

  /** After a success: the key's backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.length;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  private async next(): Promise<string | undefined> {
    while (!this.stopped) {
      const key = this.queue.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        this.processing.add(key);
        return key;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return undefined;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /**
   * Runs `concurrency` workers until stop(). A worker's throw is a failure
   * (backoff); a returned requeueAfterMs schedules the next look.
   */
  async run(
    worker: Worker,
    concurrency: number,
    onError: (key: string, error: unknown) => void,
  ): Promise<void> {
    const loop = async () => {
      for (let key = await this.next(); key !== undefined; key = await this.next()) {
        try {
          const result = await worker(key);
          this.forget(key);
          if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        } catch (error) {
          onError(key, error);
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
  }

  stop(): void {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.wake();
  }
}
