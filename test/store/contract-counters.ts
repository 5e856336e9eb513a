/** Store contract: sending counters, rate-limit hits and transactional groups. */
import { describe, expect, it } from "vitest";
import type { LimitCheck, Store } from "../../relay/store/types.js";
import type { SendingLimits } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { currentHour, DAY, HOUR, MINUTE, nextUtcMonth } from "./fixtures.js";

const NO_LIMITS: SendingLimits = { perHour: 0, perDay: 0, perMonth: 0, overageAllowed: false };

function limits(overrides: Partial<SendingLimits>): SendingLimits {
  return { ...NO_LIMITS, ...overrides };
}

/** Noon UTC on the 15th of next month: far from any day or month boundary. */
function midMonthNoon(): number {
  return nextUtcMonth(Date.now()) + 14 * DAY + 12 * HOUR;
}

export function describeCounterContract(harness: StoreHarness): void {
  describe("checkAndIncrement", () => {
    it("counts into the hour, day and month windows when nothing limits it", async () => {
      const store = await harness.open();
      const now = midMonthNoon();
      expect(await store.getCounts("acme", now)).toEqual({ hour: 0, day: 0, month: 0 });
      const first = await store.checkAndIncrement("acme", NO_LIMITS, 3, now);
      expect(first).toEqual({ allowed: true, overage: false, counts: { hour: 3, day: 3, month: 3 } });
      const second = await store.checkAndIncrement("acme", NO_LIMITS, 2, now + MINUTE);
      expect(second.counts).toEqual({ hour: 5, day: 5, month: 5 });
      expect(await store.getCounts("acme", now + 2 * MINUTE)).toEqual({ hour: 5, day: 5, month: 5 });
      expect(await store.getCounts("beta", now)).toEqual({ hour: 0, day: 0, month: 0 });
    });

    it("allows up to the limit, refuses what would pass it, and leaves the counts unchanged", async () => {
      const store = await harness.open();
      const now = midMonthNoon();
      const perHour10 = limits({ perHour: 10 });
      expect((await store.checkAndIncrement("acme", perHour10, 4, now)).allowed).toBe(true);
      expect((await store.checkAndIncrement("acme", perHour10, 4, now)).allowed).toBe(true);

      const refused = await store.checkAndIncrement("acme", perHour10, 4, now);
      expect(refused).toEqual({
        allowed: false,
        overage: false,
        exceeded: "hour",
        counts: { hour: 8, day: 8, month: 8 },
      });
      expect(await store.getCounts("acme", now)).toEqual({ hour: 8, day: 8, month: 8 });

      const exactlyToLimit = await store.checkAndIncrement("acme", perHour10, 2, now);
      expect(exactlyToLimit).toEqual({
        allowed: true,
        overage: false,
        counts: { hour: 10, day: 10, month: 10 },
      });
      expect((await store.checkAndIncrement("acme", perHour10, 1, now)).allowed).toBe(false);
    });

    it("names the first window passed, hour before day before month", async () => {
      const store = await harness.open();
      const now = midMonthNoon();
      const all = limits({ perHour: 2, perDay: 2, perMonth: 2 });
      expect((await store.checkAndIncrement("acme", all, 3, now)).exceeded).toBe("hour");

      const dayAndMonth = limits({ perDay: 2, perMonth: 2 });
      expect((await store.checkAndIncrement("acme", dayAndMonth, 3, now)).exceeded).toBe("day");

      const monthOnly = limits({ perHour: 5, perDay: 5, perMonth: 2 });
      const check = await store.checkAndIncrement("acme", monthOnly, 3, now);
      expect(check).toMatchObject({ allowed: false, exceeded: "month" });
      expect(check.counts).toEqual({ hour: 0, day: 0, month: 0 });
    });

    it("allows passing a limit with overage, and says so", async () => {
      const store = await harness.open();
      const now = midMonthNoon();
      const soft = limits({ perHour: 2, overageAllowed: true });
      expect(await store.checkAndIncrement("acme", soft, 2, now)).toEqual({
        allowed: true,
        overage: false,
        counts: { hour: 2, day: 2, month: 2 },
      });
      expect(await store.checkAndIncrement("acme", soft, 1, now)).toEqual({
        allowed: true,
        overage: true,
        exceeded: "hour",
        counts: { hour: 3, day: 3, month: 3 },
      });
    });

    it("starts a new hour window on the hour, keeping the day and month counts", async () => {
      const store = await harness.open();
      const hourStart = midMonthNoon();
      const perHour2 = limits({ perHour: 2 });
      expect((await store.checkAndIncrement("acme", perHour2, 2, hourStart - 1)).allowed).toBe(true);
      expect((await store.checkAndIncrement("acme", perHour2, 1, hourStart - 1)).allowed).toBe(false);
      const next = await store.checkAndIncrement("acme", perHour2, 2, hourStart);
      expect(next).toEqual({ allowed: true, overage: false, counts: { hour: 2, day: 4, month: 4 } });
      expect(await store.getCounts("acme", hourStart + 59 * MINUTE)).toEqual({ hour: 2, day: 4, month: 4 });
    });

    it("holds a day limit across hours and starts a new day window at 00:00 UTC", async () => {
      const store = await harness.open();
      const dayStart = nextUtcMonth(Date.now()) + 14 * DAY;
      const perDay3 = limits({ perDay: 3 });
      expect((await store.checkAndIncrement("acme", perDay3, 2, dayStart - 2 * HOUR)).allowed).toBe(true);
      const refused = await store.checkAndIncrement("acme", perDay3, 2, dayStart - 30 * MINUTE);
      expect(refused).toMatchObject({
        allowed: false,
        exceeded: "day",
        counts: { hour: 0, day: 2, month: 2 },
      });

      const next = await store.checkAndIncrement("acme", perDay3, 2, dayStart);
      expect(next).toEqual({ allowed: true, overage: false, counts: { hour: 2, day: 2, month: 4 } });
    });

    it("starts a new month window on the first of the month, 00:00 UTC", async () => {
      const store = await harness.open();
      const monthStart = nextUtcMonth(nextUtcMonth(Date.now()));
      const perMonth3 = limits({ perMonth: 3 });
      expect((await store.checkAndIncrement("acme", perMonth3, 3, monthStart - 10 * DAY)).allowed).toBe(true);
      const refused = await store.checkAndIncrement("acme", perMonth3, 1, monthStart - 1);
      expect(refused).toMatchObject({
        allowed: false,
        exceeded: "month",
        counts: { hour: 0, day: 0, month: 3 },
      });

      const next = await store.checkAndIncrement("acme", perMonth3, 1, monthStart);
      expect(next).toEqual({ allowed: true, overage: false, counts: { hour: 1, day: 1, month: 1 } });
      expect(await store.getCounts("acme", monthStart + 5 * DAY)).toEqual({ hour: 0, day: 0, month: 1 });
    });

    it("never overshoots: 50 concurrent increments against perHour 10 allow exactly 10", async () => {
      const { writer, peer } = await harness.openPair();
      const now = midMonthNoon();
      const perHour10 = limits({ perHour: 10 });
      // Half through each instance, when there are two: two connections race for real.
      const stores: Store[] = [writer, peer];
      const checks: LimitCheck[] = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (stores[i % 2] as Store).checkAndIncrement("acme", perHour10, 1, now),
        ),
      );
      expect(checks.filter((c) => c.allowed)).toHaveLength(10);
      expect(checks.filter((c) => !c.allowed).every((c) => c.exceeded === "hour")).toBe(true);
      expect(await writer.getCounts("acme", now)).toEqual({ hour: 10, day: 10, month: 10 });
      const allowedCounts = checks
        .filter((c) => c.allowed)
        .map((c) => c.counts.hour)
        .sort((a, b) => a - b);
      expect(allowedCounts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });
  });

  describe("hit", () => {
    it("counts per key in fixed windows", async () => {
      const store = await harness.open();
      const windowStart = currentHour();
      expect(await store.hit("auth:198.51.100.1", 60, windowStart)).toBe(1);
      expect(await store.hit("auth:198.51.100.1", 60, windowStart + 30_000)).toBe(2);
      expect(await store.hit("auth:198.51.100.2", 60, windowStart + 30_000)).toBe(1);
      expect(await store.hit("auth:198.51.100.1", 60, windowStart + 59_999)).toBe(3);
      expect(await store.hit("auth:198.51.100.1", 60, windowStart + 60_000)).toBe(1);
      expect(await store.hit("auth:198.51.100.1", 60, windowStart + 61_000)).toBe(2);
    });

    it("counts every one of many concurrent hits", async () => {
      const { writer, peer } = await harness.openPair();
      const now = currentHour();
      const counts = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? writer : peer).hit("burst", 3600, now)),
      );
      expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    });
  });

  describe("transactional groups", () => {
    it("adds idempotently and lists sorted by name, per account", async () => {
      const store = await harness.open();
      const now = currentHour();
      expect(await store.listGroups("acme")).toEqual([]);
      expect(await store.addGroup("acme", "welcome", now)).toEqual({ created: true });
      expect(await store.addGroup("acme", "alerts", now + 1)).toEqual({ created: true });
      expect(await store.addGroup("acme", "welcome", now + 2)).toEqual({ created: false });
      expect(await store.addGroup("beta", "welcome", now + 3)).toEqual({ created: true });

      expect(await store.listGroups("acme")).toEqual([
        { name: "alerts", createdAt: now + 1 },
        { name: "welcome", createdAt: now },
      ]);
      expect(await store.listGroups("beta")).toEqual([{ name: "welcome", createdAt: now + 3 }]);
    });
  });
}
