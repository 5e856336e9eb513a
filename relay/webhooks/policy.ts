/**
 * What to do after one POST: pure decisions, no I/O.
 *
 * - 2xx: delivered.
 * - 429 and 5xx, timeouts, connection failures: retried with exponential
 *   backoff and jitter, until `maxAttempts`. A 429's Retry-After is honoured
 *   (capped at `maxDelayMs`) when it asks for more than the backoff.
 * - Any other 4xx: the receiver has refused this event; retrying would only
 *   repeat the refusal. Failed.
 * - 3xx: failed. Redirects are not followed: a redirect is a second target the
 *   target check never saw, and a receiver that moved should be re-registered.
 * - A target refused by the SSRF rules (targets.ts): failed, not retried.
 */

export interface RetrySettings {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The wait before the second attempt; each later wait doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export type AttemptResult =
  | { kind: "response"; status: number; retryAfterMs?: number }
  | { kind: "timeout" }
  | { kind: "network"; message: string }
  | { kind: "refused"; message: string };

export type NextStep =
  | { kind: "delivered" }
  | { kind: "retry"; delayMs: number; reason: string }
  | { kind: "failed"; reason: string };

/**
 * The wait after failed attempt number `attempt` (1 for the first): half of
 * the doubled delay fixed, half random ("equal jitter"), so waits still grow
 * while receivers are not hit by every relay at the same instant.
 */
export function backoffDelay(attempt: number, settings: RetrySettings, random: () => number): number {
  const exponential = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

function describe(result: AttemptResult): string {
  switch (result.kind) {
    case "response":
      return `HTTP ${result.status}`;
    case "timeout":
      return "timed out";
    case "network":
    case "refused":
      return result.message;
  }
}

function isRetryable(result: AttemptResult): boolean {
  if (result.kind === "timeout" || result.kind === "network") return true;
  if (result.kind === "refused") return false;
  return result.status === 429 || result.status >= 500;
}

export function nextStep(
  result: AttemptResult,
  attempt: number,
  settings: RetrySettings,
  random: () => number = Math.random,
): NextStep {
  if (result.kind === "response" && result.status >= 200 && result.status < 300) return { kind: "delivered" };
  const reason = describe(result);
  if (!isRetryable(result)) return { kind: "failed", reason };
  if (attempt >= settings.maxAttempts)
    return { kind: "failed", reason: `${reason} after ${attempt} attempts` };
  let delayMs = backoffDelay(attempt, settings, random);
  if (result.kind === "response" && result.retryAfterMs !== undefined)
    delayMs = Math.max(delayMs, Math.min(result.retryAfterMs, settings.maxDelayMs));
  return { kind: "retry", delayMs, reason };
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date (RFC 9110 10.2.3); undefined when unusable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}
