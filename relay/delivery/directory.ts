/**
 * What delivery needs from the Store, held in memory so that every routing
 * decision is synchronous: accounts (lane, weight, route, notify), route
 * tables and blocked pairs. Changes announced by `store.onChange` are
 * re-read at once (a route table published by the operator takes effect
 * within a second), and everything is re-read every `refreshMs` in case an
 * announcement was lost. Blocks this relay finds are effective here at once
 * and reported to the Store for the operator and the rest of the fleet.
 */
import type { Account } from "../accounts/schema.js";
import type { Logger } from "../log/logger.js";
import type { RouteTable } from "../routes/schema.js";
import type { Store, Unsubscribe } from "../store/types.js";
import { BlockBook } from "./blocked.js";

export class RoutingDirectory {
  readonly blocks = new BlockBook();
  /** undefined: not loaded yet; null: known not to exist. */
  private readonly accounts = new Map<string, Account | null>();
  private readonly tables = new Map<string, RouteTable | null>();
  private readonly listeners = new Set<() => void>();
  private unsubscribe: Unsubscribe | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly options: {
      now?: () => number;
      refreshMs?: number;
      reportedBy?: string;
      /**
       * The table an account's route "default" means: in a fleet, the pool's SenderRoute as the
       * operator publishes it ("namespace/name"); on its own, the table named "default".
       */
      defaultRoute?: string;
    } = {},
  ) {}

  async start(): Promise<this> {
    this.unsubscribe = this.store.onChange((change) => {
      switch (change.kind) {
        case "account":
          void this.reload(() => this.loadAccount(change.name));
          break;
        case "routes":
          void this.reload(() => this.loadTable(change.name));
          break;
        case "blocked":
          void this.reload(() => this.loadBlocked());
          break;
        default:
          break;
      }
    });
    await this.refreshAll().catch((error: unknown) =>
      this.logger.error({ err: error }, "could not load routing state; will retry"),
    );
    this.timer = setInterval(
      () => void this.reload(() => this.refreshAll()),
      this.options.refreshMs ?? 30_000,
    );
    this.timer.unref();
    return this;
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
  }

  /** Called after any change was loaded (the scheduler re-runs its dispatch). */
  onUpdate(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  account(name: string): Account | undefined {
    return this.accounts.get(name) ?? undefined;
  }

  table(name: string): RouteTable | undefined {
    return this.tables.get(name) ?? undefined;
  }

  /** The route table an account's mail takes (its own route, with "default" resolved). */
  routeOf(accountName: string): string {
    return this.resolveRoute(this.account(accountName)?.route);
  }

  private resolveRoute(route: string | undefined): string {
    return !route || route === "default" ? (this.options.defaultRoute ?? "default") : route;
  }

  knownAccounts(): Account[] {
    return [...this.accounts.values()].filter((a): a is Account => a !== null);
  }

  dedicatedAccounts(): string[] {
    return [...this.accounts.values()]
      .filter((a): a is Account => a?.lane === "dedicated")
      .map((a) => a.name);
  }

  /** Makes sure the account and its route table have been looked up (once; changes keep them current). */
  async ensure(accountName: string): Promise<void> {
    if (!this.accounts.has(accountName)) await this.loadAccount(accountName);
    const route = this.routeOf(accountName);
    if (!this.tables.has(route)) await this.loadTable(route);
  }

  /** Blocks the pair here at once and reports it to the Store (failures are logged; the local block holds). */
  reportBlocked(sender: string, domain: string, reason: string, holdSeconds: number): void {
    const now = this.now();
    const until = now + holdSeconds * 1000;
    this.blocks.addLocal(sender, domain, until);
    this.store
      .reportBlocked({
        sender,
        domain,
        since: now,
        until,
        reason: reason.slice(0, 500),
        ...(this.options.reportedBy ? { reportedBy: this.options.reportedBy } : {}),
      })
      .catch((error: unknown) =>
        this.logger.error({ err: error, sender, domain }, "could not report a block"),
      );
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async reload(load: () => Promise<void>): Promise<void> {
    try {
      await load();
      for (const listener of this.listeners) listener();
    } catch (error) {
      this.logger.error({ err: error }, "could not reload routing state");
    }
  }

  private async refreshAll(): Promise<void> {
    const [accounts, tables] = await Promise.all([this.store.listAccounts(), this.store.listRouteTables()]);
    const accountNames = new Set(accounts.map((a) => a.name));
    for (const name of this.accounts.keys()) if (!accountNames.has(name)) this.accounts.set(name, null);
    for (const account of accounts) this.accounts.set(account.name, account);
    const tableNames = new Set(tables.map((t) => t.name));
    for (const name of this.tables.keys()) if (!tableNames.has(name)) this.tables.set(name, null);
    for (const { name, table } of tables) this.tables.set(name, table);
    await this.loadBlocked();
  }

  private async loadAccount(name: string): Promise<void> {
    const account = await this.store.getAccount(name);
    this.accounts.set(name, account ?? null);
    const route = this.resolveRoute(account?.route);
    if (!this.tables.has(route)) await this.loadTable(route);
  }

  private async loadTable(name: string): Promise<void> {
    this.tables.set(name, (await this.store.getRouteTable(name)) ?? null);
  }

  private async loadBlocked(): Promise<void> {
    this.blocks.replaceFromStore(await this.store.listBlocked(this.now()));
  }
}
