/** The local adapter's pure decisions: limits, statuses, stats deltas, time buckets, cursors. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { FINAL_STATUSES, type RecipientStatus } from "../../vocabulary.js";
import { decideIncrement } from "./counters.js";
import { decodeCursor, encodeCursor, pageLimit, toPage } from "./cursor.js";
import { RECIPIENT_STATUSES, statusAfterAttempt } from "./records.js";
import { eventDelta, reportDelta, reportKeys } from "./stats.js";
import { staleBefore, utcHourLabel, windowStart } from "./time.js";

describe("decideIncrement", () => {
  const limits = { perHour: 10, perDay: 20, perMonth: 30, overageAllowed: false };

  it("allows up to a limit and names the first window it would pass", () => {
    expect(decideIncrement({ hour: 9, day: 9, month: 9 }, limits, 1)).toEqual({
      allowed: true,
      overage: false,
    });
    expect(decideIncrement({ hour: 10, day: 10, month: 10 }, limits, 1)).toEqual({
      allowed: false,
      overage: false,
      exceeded: "hour",
    });
    expect(decideIncrement({ hour: 0, day: 20, month: 30 }, limits, 1)).toMatchObject({ exceeded: "day" });
    expect(decideIncrement({ hour: 0, day: 0, month: 30 }, limits, 1)).toMatchObject({ exceeded: "month" });
    expect(decideIncrement({ hour: 10, day: 20, month: 30 }, { ...limits, overageAllowed: true }, 1)).toEqual(
      {
        allowed: true,
        overage: true,
        exceeded: "hour",
      },
    );
  });

  it("treats 0 as no limit, and never allows passing a limit without overage", () => {
    const count = fc.nat(1000);
    const limit = fc.nat(50);
    fc.assert(
      fc.property(count, count, count, limit, limit, limit, fc.nat(20), (h, d, m, ph, pd, pm, n) => {
        const counts = { hour: h, day: d, month: m };
        const result = decideIncrement(
          counts,
          { perHour: ph, perDay: pd, perMonth: pm, overageAllowed: false },
          n,
        );
        const passes = (c: number, l: number) => l > 0 && c + n > l;
        expect(result.allowed).toBe(!passes(h, ph) && !passes(d, pd) && !passes(m, pm));
      }),
    );
  });
});

describe("statusAfterAttempt", () => {
  it("takes delivered and bounced as they are, and never moves a final status back to deferred", () => {
    for (const current of RECIPIENT_STATUSES) {
      expect(statusAfterAttempt(current, "delivered")).toBe("delivered");
      expect(statusAfterAttempt(current, "bounced")).toBe("bounced");
      const expected: RecipientStatus = FINAL_STATUSES.includes(current) ? current : "deferred";
      expect(statusAfterAttempt(current, "deferred")).toBe(expected);
      expect(statusAfterAttempt(current, "blocked")).toBe(expected);
    }
  });
});

describe("stats deltas", () => {
  it("counts every non-bot open, unique ones once, and bots apart", () => {
    expect(eventDelta("open", false, true)).toEqual({ opens: 1, uniqueOpens: 1 });
    expect(eventDelta("open", false, false)).toEqual({ opens: 1, uniqueOpens: 0 });
    expect(eventDelta("click", true, false)).toEqual({ botClicks: 1 });
    expect(eventDelta("bounced", false, true)).toEqual({ bounced: 1 });
    expect(eventDelta("bounced", false, false)).toEqual({});
    expect(eventDelta("unsubscribe", false, true)).toEqual({ unsubscribes: 1 });
    expect(eventDelta("complaint", false, true)).toEqual({ complaints: 1 });
  });

  it("reports only non-bot engagement, keyed by domain, country and UTC hour", () => {
    expect(reportDelta("open", true, false)).toBeUndefined();
    expect(reportDelta("delivered", false, true)).toBeUndefined();
    expect(reportDelta("click", false, true)).toEqual({
      opens: 0,
      uniqueOpens: 0,
      clicks: 1,
      uniqueClicks: 1,
    });
    const at = Date.UTC(2030, 4, 6, 7, 59);
    expect(reportKeys("a@Mail.Example.org", "nl", at)).toEqual({
      domain: "mail.example.org",
      country: "NL",
      hour: "07",
    });
    expect(reportKeys("a@example.org", undefined, at).country).toBe("??");
  });
});

describe("time buckets", () => {
  it("starts windows on the UTC hour, day and first of the month", () => {
    const t = Date.UTC(2030, 1, 28, 23, 59, 59, 999);
    expect(windowStart("hour", t)).toBe(Date.UTC(2030, 1, 28, 23));
    expect(windowStart("day", t)).toBe(Date.UTC(2030, 1, 28));
    expect(windowStart("month", t)).toBe(Date.UTC(2030, 1, 1));
    expect(windowStart("month", t + 1)).toBe(Date.UTC(2030, 2, 1));
    expect(utcHourLabel(t)).toBe("23");
  });

  it("keeps the previous window when sweeping stale buckets", () => {
    for (const window of ["hour", "day", "month"] as const) {
      const t = Date.UTC(2030, 2, 1, 0, 30);
      const previous = windowStart(window, windowStart(window, t) - 1);
      expect(staleBefore(window, t)).toBeLessThan(previous);
    }
  });
});

describe("cursors and pages", () => {
  it("round-trips a key and refuses anything else", () => {
    const schema = z.tuple([z.number(), z.string()]);
    expect(decodeCursor(encodeCursor([5, "M1"]), schema)).toEqual([5, "M1"]);
    expect(() => decodeCursor("%%%", schema)).toThrow(expect.objectContaining({ code: "invalid" }));
    expect(() => decodeCursor(encodeCursor(["M1", 5]), schema)).toThrow(
      expect.objectContaining({ code: "invalid" }),
    );
  });

  it("defaults to 100 a page, caps at 1000, and hands a cursor only when more rows exist", () => {
    expect(pageLimit(undefined)).toBe(100);
    expect(pageLimit(5000)).toBe(1000);
    expect(() => pageLimit(1.5)).toThrow(expect.objectContaining({ code: "invalid" }));
    const key = (n: number) => [n];
    expect(toPage([1, 2, 3], 2, String, key)).toEqual({ items: ["1", "2"], nextCursor: encodeCursor([2]) });
    expect(toPage([1, 2], 2, String, key)).toEqual({ items: ["1", "2"] });
  });
});
