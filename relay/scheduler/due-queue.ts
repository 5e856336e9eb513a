/** A min-heap of items by due time: deferred recipients waiting for their retry. No timers here. */
export class DueQueue<T> {
  private heap: { at: number; item: T }[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The earliest due time, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.at;
  }

  push(at: number, item: T): void {
    this.heap.push({ at, item });
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.heap[parent] as { at: number }).at <= at) break;
      [this.heap[parent], this.heap[i]] = [
        this.heap[i] as { at: number; item: T },
        this.heap[parent] as { at: number; item: T },
      ];
      i = parent;
    }
  }

  /** Removes and returns every item due at or before `now`, earliest first. */
  popDue(now: number): T[] {
    const due: T[] = [];
    while (this.heap.length > 0 && (this.heap[0] as { at: number }).at <= now) due.push(this.pop() as T);
    return due;
  }

  private pop(): T | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (this.heap.length > 0 && last) {
      this.heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (
          left < this.heap.length &&
          (this.heap[left] as { at: number }).at < (this.heap[smallest] as { at: number }).at
        )
          smallest = left;
        if (
          right < this.heap.length &&
          (this.heap[right] as { at: number }).at < (this.heap[smallest] as { at: number }).at
        )
          smallest = right;
        if (smallest === i) break;
        [this.heap[smallest], this.heap[i]] = [
          this.heap[i] as { at: number; item: T },
          this.heap[smallest] as { at: number; item: T },
        ];
        i = smallest;
      }
    }
    return top?.item;
  }
}

/** A DueQueue with one timer armed for its earliest item; hands due items to `onDue`. */
export class DueTimer<T> {
  private readonly queue = new DueQueue<T>();
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly now: () => number,
    private readonly onDue: (items: T[]) => void,
  ) {}

  get size(): number {
    return this.queue.size;
  }

  add(at: number, item: T): void {
    this.queue.push(at, item);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private arm(): void {
    const next = this.queue.peekTime();
    if (next === undefined || this.stopped) return;
    if (this.timer && next >= this.armedAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = next;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - this.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const due = this.queue.popDue(this.now());
    this.arm();
    if (due.length > 0) this.onDue(due);
  }
}
