import { describe, expect, it } from "vitest";
import { afterDeferral, DEFAULT_RETRY_POLICY, retryDelayMs } from "../../relay/scheduler/retry.js";

const policy = { baseMs: 1000, maxMs: 60_000, jitter: 0.5, maxAgeMs: 3 * 24 * 3600_000 };

describe("retry", () => {
  it("doubles from the base up to the cap, jitter only shortening", () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, policy, () => 0))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(20, policy, () => 0)).toBe(60_000);
    expect(retryDelayMs(3, policy, () => 0.999)).toBeGreaterThanOrEqual(2000);
    expect(retryDelayMs(3, policy, () => 0.999)).toBeLessThan(4000);
  });

  it("spreads a burst deferred together", () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const delays = new Set(Array.from({ length: 100 }, () => retryDelayMs(5, policy, random)));
    expect(delays.size).toBeGreaterThan(50);
  });

  it("expires at the maximum age, and never schedules past it", () => {
    const receivedAt = 0;
    const day = 24 * 3600_000;
    expect(afterDeferral({ deferrals: 1, receivedAt, now: 1000, policy, random: () => 0 })).toEqual({
      kind: "retry",
      at: 2000,
    });
    expect(afterDeferral({ deferrals: 50, receivedAt, now: 3 * day - 10, policy, random: () => 0 })).toEqual({
      kind: "retry",
      at: 3 * day,
    });
    expect(afterDeferral({ deferrals: 51, receivedAt, now: 3 * day, policy })).toEqual({ kind: "expire" });
  });

  it("defaults to three days", () => {
    expect(DEFAULT_RETRY_POLICY.maxAgeMs).toBe(3 * 24 * 3600_000);
  });
});
