/**
 * Account look-ups for the intake, cached in the process (the 2009 service
 * cached them for 5 minutes) and dropped at once on any account change the
 * Store announces, so a revoked password stops working fleet-wide within a
 * second. Successful password checks are cached too: scrypt is deliberately
 * slow, and a client that authenticates for every message would otherwise
 * pay it every time.
 */
import { createHash } from "node:crypto";
import { verifyPassword } from "../accounts/credentials.js";
import { clientMatcher } from "../accounts/match.js";
import type { Account, Store, Unsubscribe } from "../store/types.js";

interface Cached<T> {
  value: T;
  expires: number;
}

export class AccountDirectory {
  private forClientMatcher: Cached<(ip: string, from: string) => Account | undefined> | undefined;
  private readonly verified = new Map<string, Cached<Account>>();
  private readonly byName = new Map<string, Cached<Account | undefined>>();
  private unsubscribe: Unsubscribe | undefined;

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): this {
    this.unsubscribe = this.store.onChange((change) => {
      if (change.kind === "account") this.clear();
    });
    return this;
  }

  stop(): void {
    this.unsubscribe?.();
  }

  clear(): void {
    this.forClientMatcher = undefined;
    this.verified.clear();
    this.byName.clear();
  }

  /** The account these SMTP AUTH credentials belong to, or undefined (unknown user and wrong password alike). */
  async authenticate(username: string, password: string): Promise<Account | undefined> {
    const key = createHash("sha256").update(username).update("\0").update(password).digest("base64");
    const hit = this.verified.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    const found = await this.store.findAccountByUsername(username);
    if (!found || !(await verifyPassword(password, found.passwordHash))) return undefined;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, { value: found.account, expires: this.now() + this.ttlMs });
    return found.account;
  }

  /** The account a client IP may relay for as `from` without AUTH. */
  async forClient(ip: string, from: string): Promise<Account | undefined> {
    if (!this.forClientMatcher || this.forClientMatcher.expires <= this.now()) {
      const value = clientMatcher(await this.store.listAccounts());
      this.forClientMatcher = { value, expires: this.now() + this.ttlMs };
    }
    return this.forClientMatcher.value(ip, from);
  }

  async get(name: string): Promise<Account | undefined> {
    const hit = this.byName.get(name);
    if (hit && hit.expires > this.now()) return hit.value;
    const account = await this.store.getAccount(name);
    this.byName.set(name, { value: account, expires: this.now() + this.ttlMs });
    return account;
  }
}
