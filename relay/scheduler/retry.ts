/**
 * When to try a deferred recipient again, and when to give up. Pure.
 *
 * Exponential backoff with jitter (Postfix starts at 300 s and caps at
 * 4000 s; we start sooner because a relay's next hop is usually a smart host
 * or a big ISP that recovers fast): base · 2^(n-1), capped, then scaled by a
 * random factor in [1 - jitter, 1] so that a burst deferred together does
 * not come back together.
 */

export interface RetryPolicy {
  /** Delay after the first deferral. */
  baseMs: number;
  /** Longest delay between two attempts. */
  maxMs: number;
  /** Fraction of the delay that is randomized away (0: none). */
  jitter: number;
  /** After this long in the queue (from end of DATA) a deferred recipient bounces. */
  maxAgeMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseMs: 60_000,
  maxMs: 60 * 60_000,
  jitter: 0.25,
  maxAgeMs: 3 * 24 * 60 * 60_000,
};

/** Delay before attempt `deferrals + 1`, after `deferrals` (≥ 1) temporary failures. */
export function retryDelayMs(
  deferrals: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(deferrals - 1, 0), 30);
  const raw = Math.min(policy.baseMs * 2 ** exponent, policy.maxMs);
  return Math.round(raw * (1 - policy.jitter * random()));
}

export type AfterDeferral =
  | { kind: "retry"; at: number }
  /** Too old: bounce now with a notice (RFC 3463 4.4.7, "delivery time expired"). */
  | { kind: "expire" };

/**
 * What follows a deferral. A retry that would land after the maximum age is
 * moved to the deadline itself, so the last attempt happens at expiry
 * rather than the message bouncing early.
 */
export function afterDeferral(input: {
  deferrals: number;
  receivedAt: number;
  now: number;
  policy: RetryPolicy;
  random?: () => number;
}): AfterDeferral {
  const deadline = input.receivedAt + input.policy.maxAgeMs;
  if (input.now >= deadline) return { kind: "expire" };
  const at = input.now + retryDelayMs(input.deferrals, input.policy, input.random);
  return { kind: "retry", at: Math.min(at, deadline) };
}
