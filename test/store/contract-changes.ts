/** Store contract: change notification, ping and close. */
import { describe, expect, it, vi } from "vitest";
import type { StoreChange } from "../../relay/store/types.js";
import type { StoreHarness } from "./contract-harness.js";
import { account, currentHour, HOUR, routeTable } from "./fixtures.js";

/** types.ts promises delivery "within a second" across a fleet; allow some slack for a loaded machine. */
const DELIVERY_TIMEOUT_MS = 3000;

function recorder() {
  const changes: StoreChange[] = [];
  return {
    changes,
    listener: (change: StoreChange) => {
      changes.push(change);
    },
    async waitFor(expected: StoreChange) {
      await vi.waitFor(() => expect(changes).toContainEqual(expected), {
        timeout: DELIVERY_TIMEOUT_MS,
        interval: 20,
      });
    },
  };
}

export function describeChangeContract(harness: StoreHarness): void {
  const across = harness.distinctPeers ? "from another store on the same backing state" : "";

  describe("onChange", () => {
    it(`delivers account, routes, blocked and suppression changes ${across}`.trim(), async () => {
      const { writer, peer } = await harness.openPair();
      const atPeer = recorder();
      const atWriter = recorder();
      peer.onChange(atPeer.listener);
      writer.onChange(atWriter.listener);
      const now = currentHour();

      await writer.putAccount(account("acme"));
      await atPeer.waitFor({ kind: "account", name: "acme" });
      await writer.putRouteTable("mail/default", routeTable());
      await atPeer.waitFor({ kind: "routes", name: "mail/default" });
      await writer.reportBlocked({
        sender: "out1",
        domain: "gmail.com",
        since: now,
        until: now + HOUR,
        reason: "blocked",
      });
      await atPeer.waitFor({ kind: "blocked" });
      await writer.addSuppression("acme", {
        address: "bob@example.org",
        list: "bounces",
        reason: "r",
        at: now,
      });
      await atPeer.waitFor({ kind: "suppression", account: "acme" });
      await writer.deleteAccount("acme");
      await vi.waitFor(
        () => expect(atPeer.changes.filter((c) => c.kind === "account" && c.name === "acme")).toHaveLength(2),
        { timeout: DELIVERY_TIMEOUT_MS, interval: 20 },
      );

      // The writer hears its own changes too.
      await atWriter.waitFor({ kind: "account", name: "acme" });
      await atWriter.waitFor({ kind: "routes", name: "mail/default" });
      await atWriter.waitFor({ kind: "blocked" });
      await atWriter.waitFor({ kind: "suppression", account: "acme" });
    });

    it("stops calling a listener once it unsubscribes", async () => {
      const { writer, peer } = await harness.openPair();
      const kept = recorder();
      const dropped = recorder();
      const unsubscribe = peer.onChange(dropped.listener);
      peer.onChange(kept.listener);
      unsubscribe();

      await writer.putAccount(account("acme"));
      await kept.waitFor({ kind: "account", name: "acme" });
      await writer.putAccount(account("beta"));
      await kept.waitFor({ kind: "account", name: "beta" });
      expect(dropped.changes).toEqual([]);
    });

    it("keeps a throwing listener from breaking the writer or the other listeners", async () => {
      const { writer, peer } = await harness.openPair();
      const thrower = vi.fn(() => {
        throw new Error("listener bug");
      });
      writer.onChange(thrower);
      peer.onChange(thrower);
      const healthy = recorder();
      peer.onChange(healthy.listener);

      await expect(writer.putAccount(account("acme"))).resolves.toBeUndefined();
      await healthy.waitFor({ kind: "account", name: "acme" });
      await expect(writer.putRouteTable("default", routeTable())).resolves.toBeUndefined();
      await healthy.waitFor({ kind: "routes", name: "default" });
      expect(thrower).toHaveBeenCalled();
      expect(await writer.getAccount("acme")).toBeDefined();
    });
  });

  describe("lifecycle", () => {
    it("answers ping while open and closes cleanly", async () => {
      const store = await harness.open();
      await expect(store.ping()).resolves.toBeUndefined();
      expect(["redis", "local"]).toContain(store.kind);
    });

    const backingState = harness.backingState;
    if (backingState) {
      it("keeps its data across close and reopen", async () => {
        const openOnState = await backingState();
        const now = currentHour();
        const first = await openOnState();
        await first.putAccount(account("acme", { allowedIps: ["192.0.2.0/24"], allowedFrom: ["*"] }));
        await first.addSuppression("acme", {
          address: "bob@example.org",
          list: "bounces",
          reason: "r",
          at: now,
        });
        await first.putRouteTable("default", routeTable());
        await first.checkAndIncrement(
          "acme",
          { perHour: 0, perDay: 0, perMonth: 0, overageAllowed: false },
          3,
          now,
        );
        await harness.close(first);

        const second = await openOnState();
        expect((await second.getAccount("acme"))?.name).toBe("acme");
        expect((await second.findAccountByClient("192.0.2.9", "a@b.example"))?.name).toBe("acme");
        expect(await second.getSuppression("acme", "bounces", "bob@example.org")).toBeDefined();
        expect(await second.getRouteTable("default")).toEqual(routeTable());
        expect(await second.getCounts("acme", now)).toEqual({ hour: 3, day: 3, month: 3 });
      });
    }
  });
}
