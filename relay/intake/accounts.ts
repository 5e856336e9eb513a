/**
 * Account look-ups for the intake, cached in the process (the 2009 service
 * cached them for 5 minutes) and dropped at once on any account change the
 * Store announces, so a revoked password stops working fleet-wide within a
 * second. Successful password checks are cached too: scrypt is deliberately
 * slow, and a client that authenticates for every message would otherwise
 * pay it every time.
 */
import { createHash, randomBytes } from "node:crypto";
import { hashPassword, verifyPassword } from "../accounts/credentials.js";
import { clientMatcher, ipMatcher } from "../accounts/match.js";
import type { Account } from "../accounts/schema.js";
import type { Store, Unsubscribe } from "../store/types.js";

export type PasswordVerifier = (password: string, storedHash: string) => Promise<boolean>;

/**
 * The hash a password is checked against: the account's, or for an unknown
 * username a dummy one made with the same scrypt parameters, so an unknown
 * user costs the same scrypt as a known one and the answer's timing does not
 * tell which usernames exist (pure).
 */
export function hashToVerify(found: { passwordHash: string } | undefined, dummyHash: string): string {
  return found?.passwordHash ?? dummyHash;
}

interface Cached<T> {
  value: T;
  expires: number;
}

export class AccountDirectory {
  private forClientMatcher: Cached<(ip: string, from: string) => Account | undefined> | undefined;
  private allowedClientMatcher: Cached<(ip: string) => boolean> | undefined;
  private readonly verified = new Map<string, Cached<Account>>();
  private readonly byName = new Map<string, Cached<Account | undefined>>();
  private unsubscribe: Unsubscribe | undefined;
  /** A hash of a random password nobody knows, made once (hashToVerify). */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly verify: PasswordVerifier = verifyPassword,
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
    this.allowedClientMatcher = undefined;
    this.verified.clear();
    this.byName.clear();
  }

  /** The account these SMTP AUTH credentials belong to, or undefined (unknown user and wrong password alike). */
  async authenticate(username: string, password: string): Promise<Account | undefined> {
    const key = createHash("sha256").update(username).update("\0").update(password).digest("base64");
    const hit = this.verified.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    const found = await this.store.findAccountByUsername(username);
    this.dummyHash ??= hashPassword(randomBytes(24).toString("base64"));
    const matches = await this.verify(password, hashToVerify(found, await this.dummyHash));
    if (!found || !matches) return undefined;
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

  /**
   * Is `ip` in any account's allowedIps? Such a client is a customer's own
   * server (an application with a pool of connections), exempt from the
   * per-IP connection cap as Postfix exempts mynetworks.
   */
  async isAllowedClient(ip: string): Promise<boolean> {
    if (!this.allowedClientMatcher || this.allowedClientMatcher.expires <= this.now()) {
      const ranges = (await this.store.listAccounts()).flatMap((account) => account.allowedIps);
      this.allowedClientMatcher = { value: ipMatcher(ranges), expires: this.now() + this.ttlMs };
    }
    return this.allowedClientMatcher.value(ip);
  }

  async get(name: string): Promise<Account | undefined> {
    const hit = this.byName.get(name);
    if (hit && hit.expires > this.now()) return hit.value;
    const account = await this.store.getAccount(name);
    this.byName.set(name, { value: account, expires: this.now() + this.ttlMs });
    return account;
  }
}
