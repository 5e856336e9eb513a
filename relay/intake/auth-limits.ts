/**
 * AUTH failure limits (docs/intake.md): failures are counted in
 * the Store, so the counts are fleet-wide, per client (an IPv6 /64 is one:
 * relay/limits/client-key.ts) and per username (a guesser spread over many
 * addresses). The decisions are pure; `AuthLimits` is the thin shell that
 * counts and remembers what the Store last said.
 */
import { createHash } from "node:crypto";
import { BoundedMap } from "../limits/bounded-map.js";
import { clientKey } from "../limits/client-key.js";
import type { Store } from "../store/types.js";

const AUTH_WINDOW_SECONDS = 900;
/** Clients and usernames whose recent failures a relay remembers; past it the least recently seen go. */
const REMEMBERED_KEYS = 50_000;

export interface AuthFailureLimits {
  perConnection: number;
  perClient: number;
  perUsername: number;
}

export type AuthVerdict =
  | { kind: "retry"; delayMs: number }
  | { kind: "close"; delayMs: number }
  | { kind: "user_locked"; delayMs: number };

/** The Store counter keys of one AUTH attempt: per client (an IPv6 /64 is one) and per username. */
export function authFailureKeys(ip: string, username: string): { client: string; username: string } {
  // Hashed: a username is whatever the stranger typed, of any length.
  const user = createHash("sha256").update(username).digest("base64url").slice(0, 22);
  return { client: `authfail:${clientKey(ip)}`, username: `authfail-user:${user}` };
}

/**
 * What a failed AUTH answers, from the counts after it (pure). Each recent
 * failure, from this client or for this username, adds to the wait (capped
 * at 10×); then the connection is closed (per connection, per client), or
 * the username is refused for the window (per username).
 */
export function authFailureVerdict(
  counts: { connection: number; client: number; username: number },
  limits: AuthFailureLimits,
  baseDelayMs: number,
): AuthVerdict {
  const recent = Math.max(counts.client, counts.username);
  const delayMs = baseDelayMs * Math.min(Math.max(recent - 1, 0), 10);
  if (counts.connection >= limits.perConnection || counts.client >= limits.perClient)
    return { kind: "close", delayMs };
  if (counts.username >= limits.perUsername) return { kind: "user_locked", delayMs };
  return { kind: "retry", delayMs };
}

export class AuthLimits {
  /** Recent failures per key as last seen from the Store. */
  private readonly recent = new BoundedMap<string, { count: number; until: number }>(REMEMBERED_KEYS);

  constructor(
    private readonly store: Pick<Store, "hit">,
    private readonly limits: AuthFailureLimits,
    private readonly now: () => number,
  ) {}

  /**
   * Refused before the password is even checked: the client or the username
   * is over its limit by what this relay last heard from the Store.
   */
  refusal(ip: string, username: string): "client" | "username" | undefined {
    const keys = authFailureKeys(ip, username);
    if (this.failures(keys.client) >= this.limits.perClient) return "client";
    if (this.failures(keys.username) >= this.limits.perUsername) return "username";
    return undefined;
  }

  /** Counts a failure (fleet-wide); `connectionFailures` includes it. */
  async failed(
    ip: string,
    username: string,
    connectionFailures: number,
    baseDelayMs: number,
  ): Promise<AuthVerdict> {
    const keys = authFailureKeys(ip, username);
    const now = this.now();
    const until = now + AUTH_WINDOW_SECONDS * 1000;
    // A Store that cannot count falls back to this relay's own count.
    const count = (key: string) =>
      this.store.hit(key, AUTH_WINDOW_SECONDS, now).catch(() => this.failures(key) + 1);
    const [client, user] = await Promise.all([count(keys.client), count(keys.username)]);
    this.recent.set(keys.client, { count: client, until });
    this.recent.set(keys.username, { count: user, until });
    return authFailureVerdict(
      { connection: connectionFailures, client, username: user },
      this.limits,
      baseDelayMs,
    );
  }

  private failures(key: string): number {
    const recent = this.recent.get(key);
    return recent && recent.until > this.now() ? recent.count : 0;
  }
}
