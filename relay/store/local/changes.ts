/**
 * In-process change notification, shaped like Redis pub/sub: a change is
 * delivered after its write has committed, on a later turn of the event loop,
 * so a listener never runs inside the writer's call and cannot fail it.
 */
import type { Logger } from "../../log/logger.js";
import type { StoreChange, Unsubscribe } from "../types.js";

export type ChangeListener = (change: StoreChange) => void;

export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  subscribe(listener: ChangeListener): Unsubscribe {
    // A wrapper per subscription, so the same function subscribed twice is called twice.
    const entry: ChangeListener = (change) => listener(change);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Call only after the change has committed. */
  publish(change: StoreChange): void {
    if (this.closed) return;
    setImmediate(() => this.deliver(change));
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  private deliver(change: StoreChange): void {
    for (const listener of [...this.listeners]) {
      // Unsubscribed by an earlier listener of this same delivery: skip it.
      if (!this.listeners.has(listener)) continue;
      try {
        listener(change);
      } catch (error) {
        this.logger.error({ err: error, change }, "store change listener failed");
      }
    }
  }
}
