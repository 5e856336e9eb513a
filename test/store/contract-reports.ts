/** Store contract: group stats over hours, engagement reports over days, and the errors list. */
import { describe, expect, it } from "vitest";
import type { Store } from "../../relay/store/types.js";
import { type AccountErrorRecord, type DeliveryStats, EMPTY_STATS } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import {
  attempt,
  collectPages,
  currentHour,
  event,
  HOUR,
  MINUTE,
  newMessage,
  nextUtcDay,
} from "./fixtures.js";

function stats(counts: Partial<DeliveryStats>): DeliveryStats {
  return { ...EMPTY_STATS, ...counts };
}

/**
 * Group "g" of acme: two recipients in hour H0, one in hour H1; every
 * recipient's events fall in the hour its message was accepted, so per-hour
 * sums and distinct counts agree whatever the bucketing.
 */
async function seedGroupTraffic(store: Store, h0: number) {
  const h1 = h0 + HOUR;
  const inH0 = newMessage({ acceptedAt: h0 + 10 * MINUTE, recipients: ["a1@example.org", "a2@example.org"] });
  const inH1 = newMessage({ acceptedAt: h1 + 5 * MINUTE, recipients: ["b1@example.org"] });
  const otherGroup = newMessage({
    acceptedAt: h0 + 10 * MINUTE,
    recipients: ["c1@example.org"],
    group: "other",
  });
  const otherAccount = newMessage({
    account: "beta",
    acceptedAt: h0 + 10 * MINUTE,
    recipients: ["d1@example.org"],
  });
  for (const m of [inH0, inH1, otherAccount]) m.group = "g";
  for (const m of [inH0, inH1, otherGroup, otherAccount]) await store.recordMessage(m);

  await store.recordAttempt(inH0.id, "a1@example.org", attempt("delivered", h0 + 15 * MINUTE));
  await store.recordEvent(event("open", inH0.id, "a1@example.org", h0 + 20 * MINUTE));
  await store.recordEvent(event("open", inH0.id, "a2@example.org", h0 + 21 * MINUTE, { bot: true }));
  await store.recordEvent(event("open", inH0.id, "a1@example.org", h0 + 25 * MINUTE));
  await store.recordEvent(event("click", inH0.id, "a2@example.org", h0 + 30 * MINUTE, { linkIndex: 0 }));
  await store.recordAttempt(inH1.id, "b1@example.org", attempt("bounced", h1 + 10 * MINUTE));
  await store.recordEvent(event("open", inH1.id, "b1@example.org", h1 + 30 * MINUTE));
  await store.recordEvent(event("open", otherGroup.id, "c1@example.org", h0 + 20 * MINUTE));
  await store.recordEvent(event("open", otherAccount.id, "d1@example.org", h0 + 20 * MINUTE));
}

export function describeReportContract(harness: StoreHarness): void {
  describe("getGroupStats", () => {
    it("sums a group over UTC hours, rounding since down and until up to the hour", async () => {
      const store = await harness.open();
      const h0 = currentHour();
      const h1 = h0 + HOUR;
      await seedGroupTraffic(store, h0);

      const hourZero = stats({
        recipients: 2,
        delivered: 1,
        opens: 2,
        uniqueOpens: 1,
        clicks: 1,
        uniqueClicks: 1,
        botOpens: 1,
      });
      const hourOne = stats({ recipients: 1, bounced: 1, opens: 1, uniqueOpens: 1 });
      const both = stats({
        recipients: 3,
        delivered: 1,
        bounced: 1,
        opens: 3,
        uniqueOpens: 2,
        clicks: 1,
        uniqueClicks: 1,
        botOpens: 1,
      });

      expect(await store.getGroupStats("acme", "g")).toEqual(both);
      expect(await store.getGroupStats("acme", "g", { since: h0, until: h1 + HOUR })).toEqual(both);
      expect(await store.getGroupStats("acme", "g", { since: h0 + 30 * MINUTE })).toEqual(both);
      expect(await store.getGroupStats("acme", "g", { since: h1 })).toEqual(hourOne);
      expect(await store.getGroupStats("acme", "g", { since: h1 + 50 * MINUTE })).toEqual(hourOne);
      expect(await store.getGroupStats("acme", "g", { until: h0 + 20 * MINUTE })).toEqual(hourZero);
      expect(await store.getGroupStats("acme", "g", { until: h1 + 1 })).toEqual(both);
      expect(
        await store.getGroupStats("acme", "g", { since: h0 + 40 * MINUTE, until: h0 + 50 * MINUTE }),
      ).toEqual(hourZero);
      expect(await store.getGroupStats("acme", "g", { since: h1 + HOUR })).toEqual(stats({}));
      expect(await store.getGroupStats("acme", "other")).toEqual(
        stats({ recipients: 1, opens: 1, uniqueOpens: 1 }),
      );
      expect(await store.getGroupStats("beta", "g")).toEqual(
        stats({ recipients: 1, opens: 1, uniqueOpens: 1 }),
      );
      expect(await store.getGroupStats("acme", "no-such-group")).toEqual(stats({}));
    });
  });

  describe("getReport", () => {
    it("reports non-bot engagement by recipient domain, country and UTC hour, over whole UTC days", async () => {
      const store = await harness.open();
      const day1 = nextUtcDay(Date.now());
      const day2 = day1 + 24 * HOUR;
      const first = newMessage({
        acceptedAt: day1 + 8 * HOUR,
        recipients: ["r1@gmail.com", "r2@yahoo.com", "r3@gmail.com", "r4@example.org"],
      });
      const second = newMessage({ acceptedAt: day2 + 8 * HOUR, recipients: ["s1@gmail.com"] });
      const elsewhere = newMessage({
        account: "beta",
        acceptedAt: day1 + 8 * HOUR,
        recipients: ["x@gmail.com"],
      });
      for (const m of [first, second, elsewhere]) await store.recordMessage(m);

      const at9 = day1 + 9 * HOUR;
      const at14 = day1 + 14 * HOUR;
      const seen = [
        event("open", first.id, "r1@gmail.com", at9, { country: "US" }),
        event("open", first.id, "r1@gmail.com", at9 + MINUTE, { country: "US" }),
        event("click", first.id, "r1@gmail.com", at9 + 5 * MINUTE, { country: "US", linkIndex: 0 }),
        event("open", first.id, "r3@gmail.com", at9, { country: "US", bot: true }),
        event("click", first.id, "r3@gmail.com", at9, { country: "US", bot: true }),
        event("open", first.id, "r3@gmail.com", at9 + 10 * MINUTE, { country: "US" }),
        event("open", first.id, "r2@yahoo.com", at14, { country: "DE" }),
        event("open", first.id, "r4@example.org", at9 + 2 * MINUTE),
        event("open", second.id, "s1@gmail.com", day2 + 14 * HOUR, { country: "US" }),
        event("click", second.id, "s1@gmail.com", day2 + 14 * HOUR + MINUTE, { country: "US" }),
        event("open", elsewhere.id, "x@gmail.com", at9, { country: "FR" }),
      ];
      for (const e of seen) await store.recordEvent(e);

      expect(await store.getReport("acme", "domain")).toEqual([
        { key: "example.org", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
        { key: "gmail.com", opens: 4, uniqueOpens: 3, clicks: 2, uniqueClicks: 2 },
        { key: "yahoo.com", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
      ]);
      expect(await store.getReport("acme", "country")).toEqual([
        { key: "??", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
        { key: "DE", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
        { key: "US", opens: 4, uniqueOpens: 3, clicks: 2, uniqueClicks: 2 },
      ]);
      expect(await store.getReport("acme", "hour")).toEqual([
        { key: "09", opens: 4, uniqueOpens: 3, clicks: 1, uniqueClicks: 1 },
        { key: "14", opens: 2, uniqueOpens: 2, clicks: 1, uniqueClicks: 1 },
      ]);
      expect(await store.getReport("beta", "country")).toEqual([
        { key: "FR", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
      ]);

      // since rounds down to day2 00:00: only the second message's day.
      expect(await store.getReport("acme", "domain", { since: day2 + 3 * HOUR })).toEqual([
        { key: "gmail.com", opens: 1, uniqueOpens: 1, clicks: 1, uniqueClicks: 1 },
      ]);
      // until rounds up to day2 00:00: only the first day.
      expect(await store.getReport("acme", "hour", { until: day1 + 10 * HOUR })).toEqual([
        { key: "09", opens: 4, uniqueOpens: 3, clicks: 1, uniqueClicks: 1 },
        { key: "14", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
      ]);
      expect(await store.getReport("acme", "domain", { since: day2 + 24 * HOUR })).toEqual([]);
    });
  });

  describe("errors", () => {
    it("lists an account's errors newest first, paged and filtered by time", async () => {
      const store = await harness.open();
      const t = currentHour();
      const errors: AccountErrorRecord[] = Array.from({ length: 5 }, (_, i) => ({
        at: t + (i + 1) * MINUTE,
        code: i % 2 ? "suppressed" : "over_limit",
        message: `error ${i + 1}`,
        messageId: `MSG${i + 1}`,
        recipient: `r${i + 1}@example.org`,
        notified: i % 2 ? ["ops@acme.com", "news@acme.com"] : [],
      }));
      const minimal: AccountErrorRecord = {
        at: t,
        code: "unparseable",
        message: "no header end",
        notified: [],
      };
      await store.recordError("acme", minimal);
      for (const e of errors) await store.recordError("acme", e);
      await store.recordError("beta", { ...minimal, message: "beta's" });

      const newestFirst = [...errors].reverse();
      expect((await store.listErrors("acme")).items).toEqual([...newestFirst, minimal]);
      const paged = await collectPages((cursor) => store.listErrors("acme", { limit: 2, cursor }), 2);
      expect(paged.items).toEqual([...newestFirst, minimal]);

      const between = await store.listErrors("acme", {
        since: t + 2 * MINUTE + 1,
        until: t + 5 * MINUTE - 1,
      });
      expect(between.items.map((e) => e.message)).toEqual(["error 4", "error 3"]);
      expect((await store.listErrors("beta")).items).toEqual([{ ...minimal, message: "beta's" }]);
      expect((await store.listErrors("gamma")).items).toEqual([]);
    });
  });
}
