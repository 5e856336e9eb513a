/**
 * Deficit round robin across accounts (Shreedhar and Varghese, 1995), one
 * item per call: each account in turn earns `weight` credits when its turn
 * comes and spends one per item dispatched, so a 50,000-message burst from
 * one account costs every other account at most one slot per round. No I/O:
 * the scheduler asks `next(canRun)` whenever a slot is free.
 */

class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  at(index: number): T | undefined {
    return this.items[this.head + index];
  }

  /** Removes and returns the item at `index` (0 is the front). */
  take(index: number): T | undefined {
    if (index === 0) {
      const item = this.items[this.head];
      this.items[this.head++] = undefined;
      // Compact now and then so a long-lived queue does not keep a dead prefix.
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return item;
    }
    return this.items.splice(this.head + index, 1)[0];
  }
}

export interface Dispatch<T> {
  account: string;
  item: T;
}

export class FairQueue<T> {
  private readonly queues = new Map<string, Deque<T>>();
  private readonly deficit = new Map<string, number>();
  private readonly weights = new Map<string, number>();
  /** Accounts with queued items, in round-robin order. */
  private ring: string[] = [];
  private turn = 0;
  /** The account at `turn` has been credited for this visit. */
  private credited = false;
  private total = 0;

  /**
   * @param lookahead how far into one account's queue to look for an item
   *   that may run now (its head may wait for a busy domain or sender).
   */
  constructor(private readonly lookahead = 64) {}

  get size(): number {
    return this.total;
  }

  sizeOf(account: string): number {
    return this.queues.get(account)?.length ?? 0;
  }

  setWeight(account: string, weight: number): void {
    this.weights.set(account, Math.max(1, Math.floor(weight)));
  }

  /** Queues an item; `front` puts it first in its account's queue (a retry through another sender). */
  push(account: string, item: T, options: { front?: boolean } = {}): void {
    let queue = this.queues.get(account);
    if (!queue) {
      queue = new Deque<T>();
      this.queues.set(account, queue);
    }
    if (queue.length === 0 && !this.ring.includes(account)) this.ring.push(account);
    if (options.front) queue.unshift(item);
    else queue.push(item);
    this.total++;
  }

  /**
   * The next item to dispatch, or undefined when nothing queued may run now.
   * `canRun` says whether an item may start (lane, domain and sender limits).
   */
  next(canRun: (account: string, item: T) => boolean): Dispatch<T> | undefined {
    let visited = 0;
    while (this.ring.length > 0 && visited < this.ring.length) {
      if (this.turn >= this.ring.length) this.turn = 0;
      const account = this.ring[this.turn] as string;
      const queue = this.queues.get(account);
      if (!queue || queue.length === 0) {
        this.leaveRing(account);
        continue;
      }
      const weight = this.weights.get(account) ?? 1;
      if (!this.credited) {
        // A visit's credit is its weight, never more: credit left from a visit cut short (nothing
        // could run) must not stack on the next, or an account could keep the turn at every
        // freed slot while the others wait.
        this.deficit.set(account, Math.min(weight, (this.deficit.get(account) ?? 0) + weight));
        this.credited = true;
      }
      const index = this.findRunnable(account, queue, canRun);
      if (index !== -1) {
        const item = queue.take(index) as T;
        this.total--;
        const left = (this.deficit.get(account) ?? 0) - 1;
        this.deficit.set(account, left);
        if (queue.length === 0) this.leaveRing(account);
        else if (left < 1) this.advance();
        return { account, item };
      }
      // Nothing of this account may run now: it keeps at most one round's credit.
      this.deficit.set(account, Math.min(this.deficit.get(account) ?? 0, weight));
      this.advance();
      visited++;
    }
    return undefined;
  }

  private findRunnable(
    account: string,
    queue: Deque<T>,
    canRun: (account: string, item: T) => boolean,
  ): number {
    const limit = Math.min(queue.length, this.lookahead);
    for (let i = 0; i < limit; i++) if (canRun(account, queue.at(i) as T)) return i;
    return -1;
  }

  private advance(): void {
    this.turn = this.ring.length === 0 ? 0 : (this.turn + 1) % this.ring.length;
    this.credited = false;
  }

  private leaveRing(account: string): void {
    const index = this.ring.indexOf(account);
    if (index === -1) return;
    this.ring.splice(index, 1);
    this.deficit.delete(account);
    // The next account slid into this position: it starts a fresh visit.
    if (index < this.turn) this.turn--;
    if (this.turn >= this.ring.length) this.turn = 0;
    if (index === this.turn || this.ring.length === 0) this.credited = false;
  }
}
