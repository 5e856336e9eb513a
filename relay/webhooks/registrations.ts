/**
 * Each account's webhooks, as the dispatcher reads them on every event: kept
 * in memory, dropped when the Store announces a change to the account's
 * webhooks (on every relay of a fleet), and reloaded after `ttlMs` anyway,
 * since a Redis pub/sub message can be lost while a relay is disconnected.
 */
import type { Store, Unsubscribe } from "../store/types.js";
import type { WebhookRecord } from "../vocabulary.js";

interface Entry {
  hooks: WebhookRecord[];
  loadedAt: number;
}

export class Registrations {
  private readonly cache = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<WebhookRecord[]>>();
  /** Bumped on every change heard, so a load that raced with a change is not cached. */
  private generation = 0;
  private readonly unsubscribe: Unsubscribe;

  constructor(
    private readonly store: Pick<Store, "listWebhooks" | "onChange">,
    private readonly options: { ttlMs: number; maxAccounts: number; now: () => number },
  ) {
    this.unsubscribe = store.onChange((change) => {
      if (change.kind !== "webhooks" && change.kind !== "account") return;
      this.generation++;
      this.cache.delete(change.kind === "webhooks" ? change.account : change.name);
    });
  }

  /** The account's webhooks (cached); rejects when the store does. */
  forAccount(account: string): Promise<WebhookRecord[]> {
    const cached = this.cache.get(account);
    if (cached && this.options.now() - cached.loadedAt < this.options.ttlMs)
      return Promise.resolve(cached.hooks);
    const pending = this.loading.get(account);
    if (pending) return pending;
    const generation = this.generation;
    const load = this.store
      .listWebhooks(account)
      .then((hooks) => {
        if (generation === this.generation) this.remember(account, hooks);
        return hooks;
      })
      .finally(() => this.loading.delete(account));
    this.loading.set(account, load);
    return load;
  }

  close(): void {
    this.unsubscribe();
    this.cache.clear();
  }

  private remember(account: string, hooks: WebhookRecord[]): void {
    this.cache.delete(account);
    this.cache.set(account, { hooks, loadedAt: this.options.now() });
    // Oldest entry first in a Map: a bound on memory for a fleet with very many accounts.
    while (this.cache.size > this.options.maxAccounts) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
