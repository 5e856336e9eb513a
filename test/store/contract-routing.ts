/** Store contract: route tables and blocked (sender, domain) pairs. */
import { describe, expect, it } from "vitest";
import type { BlockedPair } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { currentHour, HOUR, MINUTE, routeTable } from "./fixtures.js";

export function describeRoutingContract(harness: StoreHarness): void {
  describe("route tables", () => {
    it("puts, replaces, gets, lists sorted by name, and deletes route tables", async () => {
      const store = await harness.open();
      expect(await store.listRouteTables()).toEqual([]);
      const failover = routeTable();
      const weighted = routeTable({
        policy: "weighted",
        domains: [{ match: ["hotmail.com", "outlook.com"], senders: ["out2"] }],
        blocking: { holdSeconds: 600, patterns: ["blocked using"] },
      });
      await store.putRouteTable("mail/marathon", failover);
      await store.putRouteTable("default", failover);
      await store.putRouteTable("mail/marathon", weighted);

      expect(await store.getRouteTable("mail/marathon")).toEqual(weighted);
      expect(await store.getRouteTable("default")).toEqual(failover);
      expect(await store.getRouteTable("nope")).toBeUndefined();
      expect(await store.listRouteTables()).toEqual([
        { name: "default", table: failover },
        { name: "mail/marathon", table: weighted },
      ]);

      expect(await store.deleteRouteTable("default")).toBe(true);
      expect(await store.getRouteTable("default")).toBeUndefined();
      expect(await store.deleteRouteTable("default")).toBe(false);
      expect((await store.listRouteTables()).map((r) => r.name)).toEqual(["mail/marathon"]);
    });
  });

  describe("blocked pairs", () => {
    const pair = (
      sender: string,
      domain: string,
      since: number,
      until: number,
      extra: Partial<BlockedPair> = {},
    ) => ({
      sender,
      domain,
      since,
      until,
      reason: "554 5.7.1 blocked using zen.spamhaus.org",
      ...extra,
    });

    it("lists blocks in force at now, sorted by sender then domain", async () => {
      const store = await harness.open();
      const now = currentHour();
      expect(await store.listBlocked(now)).toEqual([]);
      const b = pair("out2", "hotmail.com", now - HOUR, now + HOUR, { reportedBy: "relay-0" });
      const c = pair("out1", "yahoo.com", now - HOUR, now + 2 * HOUR);
      const a = pair("out1", "gmail.com", now - HOUR, now + HOUR);
      const expired = pair("out1", "aol.com", now - 2 * HOUR, now - MINUTE);
      for (const p of [b, c, expired, a]) await store.reportBlocked(p);

      expect(await store.listBlocked(now)).toEqual([a, c, b]);
      expect(await store.listBlocked(now + HOUR + MINUTE)).toEqual([c]);
    });

    it("extends a block to the later until, never shortens it", async () => {
      const store = await harness.open();
      const now = currentHour();
      await store.reportBlocked(pair("out1", "gmail.com", now, now + HOUR));
      await store.reportBlocked(pair("out1", "gmail.com", now + MINUTE, now + 3 * HOUR));
      await store.reportBlocked(pair("out1", "gmail.com", now + 2 * MINUTE, now + 2 * HOUR));

      const listed = await store.listBlocked(now + 2 * HOUR + MINUTE);
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ sender: "out1", domain: "gmail.com", until: now + 3 * HOUR });
      expect(await store.listBlocked(now + 3 * HOUR + MINUTE)).toEqual([]);
    });

    it("clears a block", async () => {
      const store = await harness.open();
      const now = currentHour();
      await store.reportBlocked(pair("out1", "gmail.com", now, now + HOUR));
      await store.reportBlocked(pair("out1", "yahoo.com", now, now + HOUR));

      expect(await store.clearBlocked("out1", "gmail.com")).toBe(true);
      expect((await store.listBlocked(now)).map((p) => p.domain)).toEqual(["yahoo.com"]);
      expect(await store.clearBlocked("out1", "gmail.com")).toBe(false);
      expect(await store.clearBlocked("out9", "yahoo.com")).toBe(false);
    });
  });
}
