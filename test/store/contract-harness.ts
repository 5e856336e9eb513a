/**
 * What every part of the Store contract suite is handed: fresh stores that
 * close themselves when the test finishes, and, where the adapter allows,
 * more than one store on the same backing state.
 */
import { onTestFinished } from "vitest";
import type { Store } from "../../relay/store/types.js";

export interface StoreContractOptions {
  /**
   * Makes one fresh backing state (Redis: a key prefix; local: a data
   * directory) and returns a function that opens a store on it, as often as
   * called. Lets the suite check that data survives close and reopen.
   */
  backingState?: () => Promise<() => Promise<Store>>;
  /**
   * True when two stores may be open on one backing state at the same time
   * and hear each other's changes (Redis). False for the local adapter (one
   * process, one instance): the suite then uses one instance for both sides.
   */
  concurrentPeers?: boolean;
}

export interface StoreHarness {
  /** A fresh, empty store, closed when the current test finishes. */
  open(): Promise<Store>;
  /** A writer and a peer on one fresh backing state (one instance for both when they cannot differ). */
  openPair(): Promise<{ writer: Store; peer: Store }>;
  /** True when `openPair` gives two distinct instances. */
  readonly distinctPeers: boolean;
  /** An opener bound to one fresh backing state, when the adapter supports reopening. */
  readonly backingState?: () => Promise<() => Promise<Store>>;
  /** Closes a store now (it is then not closed again when the test finishes). */
  close(store: Store): Promise<void>;
}

export function storeHarness(open: () => Promise<Store>, options: StoreContractOptions): StoreHarness {
  const closed = new WeakSet<Store>();
  const closeWhenFinished = (store: Store): Store => {
    onTestFinished(async () => {
      if (!closed.has(store)) await store.close();
    });
    return store;
  };
  const { backingState, concurrentPeers = false } = options;
  const distinctPeers = concurrentPeers && backingState !== undefined;

  return {
    async open() {
      return closeWhenFinished(await open());
    },
    async openPair() {
      if (!distinctPeers || !backingState) {
        const store = closeWhenFinished(await open());
        return { writer: store, peer: store };
      }
      const openOnState = await backingState();
      const writer = closeWhenFinished(await openOnState());
      const peer = closeWhenFinished(await openOnState());
      return { writer, peer };
    },
    distinctPeers,
    backingState: backingState
      ? async () => {
          const openOnState = await backingState();
          return async () => closeWhenFinished(await openOnState());
        }
      : undefined,
    async close(store) {
      closed.add(store);
      await store.close();
    },
  };
}
