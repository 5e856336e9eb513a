/** Store contract: suppression lists. */
import { describe, expect, it } from "vitest";
import type { SuppressionEntry } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { collectPages, currentHour, MINUTE } from "./fixtures.js";

export function describeSuppressionContract(harness: StoreHarness): void {
  describe("suppressions", () => {
    it("stores addresses lower-cased and finds them whatever their case", async () => {
      const store = await harness.open();
      const at = currentHour();
      await store.addSuppression("acme", {
        address: "Bob.Smith@Example.ORG",
        list: "bounces",
        reason: "550 5.1.1 No such user",
        at,
        messageId: "MSG1",
      });
      const expected: SuppressionEntry = {
        address: "bob.smith@example.org",
        list: "bounces",
        reason: "550 5.1.1 No such user",
        at,
        messageId: "MSG1",
      };
      expect(await store.getSuppression("acme", "bounces", "bob.smith@example.org")).toEqual(expected);
      expect(await store.getSuppression("acme", "bounces", "BOB.SMITH@EXAMPLE.ORG")).toEqual(expected);
      expect(await store.getSuppression("acme", "unsubscribes", "bob.smith@example.org")).toBeUndefined();
      expect(await store.getSuppression("beta", "bounces", "bob.smith@example.org")).toBeUndefined();
    });

    it("adds idempotently: one entry per address, the latest reason and time win", async () => {
      const store = await harness.open();
      const at = currentHour();
      await store.addSuppression("acme", {
        address: "bob@example.org",
        list: "bounces",
        reason: "first",
        at,
      });
      await store.addSuppression("acme", {
        address: "BOB@example.org",
        list: "bounces",
        reason: "second",
        at: at + MINUTE,
      });
      const page = await store.listSuppressions("acme", "bounces");
      expect(page.items).toEqual([
        { address: "bob@example.org", list: "bounces", reason: "second", at: at + MINUTE },
      ]);
      expect(page.nextCursor).toBeUndefined();
    });

    it("reports every list an address is on, in SUPPRESSION_LISTS order", async () => {
      const store = await harness.open();
      const at = currentHour();
      expect(await store.suppressionsFor("acme", "bob@example.org")).toEqual([]);
      await store.addSuppression("acme", {
        address: "bob@example.org",
        list: "complaints",
        reason: "abuse",
        at,
      });
      await store.addSuppression("acme", {
        address: "Bob@Example.org",
        list: "bounces",
        reason: "5.1.1",
        at,
      });
      await store.addSuppression("acme", {
        address: "bob@example.org",
        list: "unsubscribes",
        reason: "link",
        at,
      });
      await store.addSuppression("beta", {
        address: "alice@example.org",
        list: "bounces",
        reason: "5.1.1",
        at,
      });

      const lists = await store.suppressionsFor("acme", "BOB@example.org");
      expect(lists.map((e) => e.list)).toEqual(["bounces", "unsubscribes", "complaints"]);
      expect(lists.every((e) => e.address === "bob@example.org")).toBe(true);
      expect(await store.suppressionsFor("beta", "bob@example.org")).toEqual([]);
      expect(await store.suppressionsFor("acme", "alice@example.org")).toEqual([]);
    });

    it("removes an entry from one list only, whatever the case", async () => {
      const store = await harness.open();
      const at = currentHour();
      await store.addSuppression("acme", { address: "bob@example.org", list: "bounces", reason: "r", at });
      await store.addSuppression("acme", { address: "bob@example.org", list: "complaints", reason: "r", at });

      expect(await store.removeSuppression("acme", "bounces", "BOB@EXAMPLE.ORG")).toBe(true);
      expect(await store.getSuppression("acme", "bounces", "bob@example.org")).toBeUndefined();
      expect(await store.removeSuppression("acme", "bounces", "bob@example.org")).toBe(false);
      expect((await store.suppressionsFor("acme", "bob@example.org")).map((e) => e.list)).toEqual([
        "complaints",
      ]);
      expect((await store.listSuppressions("acme", "bounces")).items).toEqual([]);
    });

    it("lists sorted by address, pages with a cursor, and keeps only matches of a case-insensitive search", async () => {
      const store = await harness.open();
      const at = currentHour();
      const addresses = [
        "zed@example.org",
        "amy@example.net",
        "Carl@Example.org",
        "bea@sample.com",
        "dan@example.org",
        "eve@EXAMPLE.com",
        "fay@other.io",
      ];
      for (const [i, address] of addresses.entries()) {
        await store.addSuppression("acme", { address, list: "unsubscribes", reason: `r${i}`, at: at + i });
      }
      await store.addSuppression("acme", { address: "aaa@example.org", list: "bounces", reason: "r", at });
      await store.addSuppression("beta", {
        address: "aab@example.org",
        list: "unsubscribes",
        reason: "r",
        at,
      });

      const sorted = addresses.map((a) => a.toLowerCase()).sort();
      const all = await collectPages(
        (cursor) => store.listSuppressions("acme", "unsubscribes", { limit: 3, cursor }),
        3,
      );
      expect(all.items.map((e) => e.address)).toEqual(sorted);
      expect(all.pageSizes).toEqual([3, 3, 1]);
      expect(all.items.every((e) => e.list === "unsubscribes")).toBe(true);

      const found = await collectPages(
        (cursor) =>
          store.listSuppressions("acme", "unsubscribes", { limit: 2, cursor, search: "EXAMPLE.org" }),
        2,
      );
      expect(found.items.map((e) => e.address)).toEqual([
        "carl@example.org",
        "dan@example.org",
        "zed@example.org",
      ]);

      const single = await store.listSuppressions("acme", "unsubscribes", { search: "sample" });
      expect(single.items.map((e) => e.address)).toEqual(["bea@sample.com"]);
      expect(single.nextCursor).toBeUndefined();
      expect((await store.listSuppressions("acme", "unsubscribes", { search: "nomatch" })).items).toEqual([]);
    });

    it("returns 100 entries a page when no limit is given", async () => {
      const store = await harness.open();
      const at = currentHour();
      for (let i = 0; i < 101; i++) {
        const address = `user${String(i).padStart(3, "0")}@example.org`;
        await store.addSuppression("acme", { address, list: "bounces", reason: "r", at });
      }
      const first = await store.listSuppressions("acme", "bounces");
      expect(first.items).toHaveLength(100);
      expect(first.nextCursor).toBeDefined();
      const second = await store.listSuppressions("acme", "bounces", { cursor: first.nextCursor });
      expect(second.items.map((e) => e.address)).toEqual(["user100@example.org"]);
      expect(second.nextCursor).toBeUndefined();
    });
  });
}
