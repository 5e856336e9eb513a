/**
 * Routing on real peers: a source IP blocked mid-run, policy + domain route +
 * block composed, route tables changed in the Store while running, and
 * repeated refusals at connect. Blocks and route changes go through Redis,
 * as in a fleet.
 */
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { routeTableSchema } from "../../relay/routes/schema.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { peerRoute, startRig } from "./harness.js";

let prefixes = 0;
async function redisStore() {
  const store = await openRedisStore({
    url: inject("redisUrl"),
    prefix: `rf-delivery-${process.pid}-${Date.now()}-${prefixes++}:`,
  });
  onTestFinished(() => store.close());
  return store;
}

async function peer(options: Parameters<typeof startSmtpPeer>[0] = {}) {
  const started = await startSmtpPeer(options);
  onTestFinished(() => started.stop());
  return started;
}

describe("routing", () => {
  it("a peer that starts answering 'blocked' for 127.0.0.2 mid-run: the next attempt leaves from 127.0.0.3, nothing lost, the block in the Store", async () => {
    const isp = await peer({ name: "bigisp.test" });
    const store = await redisStore();
    const rig = await startRig({
      store,
      routes: {
        default: peerRoute(isp.port, [
          { name: "out1", localAddress: "127.0.0.2" },
          { name: "out2", localAddress: "127.0.0.3" },
        ]),
      },
    });
    const first = await Promise.all(
      Array.from({ length: 10 }, (_, i) => rig.send({ to: [`r${i}@bigisp.test`] })),
    );
    await isp.waitForMessages(10);
    isp.forSource("127.0.0.2", "blocked");
    const blockedAt = Date.now();
    const second = await Promise.all(
      Array.from({ length: 30 }, (_, i) => rig.send({ to: [`s${i}@bigisp.test`] })),
    );
    await rig.scheduler.idle();
    const rerouted = isp.received.filter((m) => m.to[0]?.startsWith("s"));
    expect(rerouted).toHaveLength(30);
    expect(new Set(rerouted.map((m) => m.clientIp))).toEqual(new Set(["127.0.0.3"]));
    const firstFromBackup = Math.min(...rerouted.map((m) => m.receivedAt));
    console.info(
      `blocked-IP reroute: first copy from 127.0.0.3 ${firstFromBackup - blockedAt} ms after the block began`,
    );
    // Rerouted well before the attempts back off for long; the 5 s design target is measured by
    // the benchmark's marathon (docs/testing.md).
    expect(firstFromBackup - blockedAt).toBeLessThan(20_000);
    // Exactly once each.
    const addresses = isp.received.map((m) => m.to[0]);
    expect(new Set(addresses).size).toBe(40);
    expect(addresses).toHaveLength(40);
    const blocked = await store.listBlocked(Date.now());
    expect(blocked).toEqual([
      expect.objectContaining({
        sender: "out1",
        domain: "bigisp.test",
        reason: expect.stringContaining("blocked using"),
      }),
    ]);
    expect(blocked[0]?.until).toBeGreaterThan(Date.now() + 14_000_000);
    // The log shows the blocked attempt and the reroute for the copy that met the block.
    const records = await Promise.all([...first, ...second].map((e) => store.getMessage(e.id)));
    const attempts = records.flatMap((r) => r?.recipients[0]?.attempts ?? []);
    expect(attempts.filter((a) => a.outcome === "blocked").map((a) => a.sourceIp)).toContain("127.0.0.2");
    expect(records.every((r) => r?.recipients[0]?.status === "delivered")).toBe(true);
    expect(await rig.metrics.registry.metrics()).toMatch(
      /relayfleet_deliveries_total\{result="blocked"\} [1-9]/,
    );
  });

  it("random policy + a domain route + a block: mail to that domain leaves only through the route's unblocked sender", async () => {
    const isp = await peer();
    const store = await redisStore();
    const rig = await startRig({
      store,
      routes: {
        default: peerRoute(
          isp.port,
          [
            { name: "out1", localAddress: "127.0.0.2" },
            { name: "out2", localAddress: "127.0.0.3" },
            { name: "out3", localAddress: "127.0.0.4" },
            { name: "out4", localAddress: "127.0.0.5" },
          ],
          { policy: "random", domains: [{ match: ["hotmail.test"], senders: ["out3", "out4"] }] },
        ),
      },
    });
    const now = Date.now();
    await store.reportBlocked({
      sender: "out3",
      domain: "hotmail.test",
      since: now,
      until: now + 3600_000,
      reason: "test",
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => rig.send({ to: [`h${i}@hotmail.test`, `o${i}@other.test`] })),
    );
    await rig.scheduler.idle();
    const sources = (domain: string) =>
      new Set(isp.received.filter((m) => m.to[0]?.endsWith(domain)).map((m) => m.clientIp));
    expect(sources("@hotmail.test")).toEqual(new Set(["127.0.0.5"]));
    expect(sources("@other.test")).toEqual(new Set(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]));
    expect(isp.received).toHaveLength(80);
  });

  it("weighted policy on real peers follows the weights", async () => {
    const isp = await peer();
    const rig = await startRig({
      routes: {
        default: peerRoute(
          isp.port,
          [
            { name: "heavy", localAddress: "127.0.0.2", weight: 4 },
            { name: "light", localAddress: "127.0.0.3", weight: 1 },
          ],
          { policy: "weighted" },
        ),
      },
    });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rig.send({ to: Array.from({ length: 10 }, (_, j) => `w${i}-${j}@isp.test`) }),
      ),
    );
    await rig.scheduler.idle();
    const heavy = isp.received.filter((m) => m.clientIp === "127.0.0.2").length;
    expect(isp.received).toHaveLength(200);
    expect(heavy).toBeGreaterThan(130);
    expect(heavy).toBeLessThan(190);
  });

  it("a route table published to the Store takes effect within a second, without a restart", async () => {
    const oldIsp = await peer({ name: "old.test" });
    const newIsp = await peer({ name: "new.test" });
    const store = await redisStore();
    const rig = await startRig({ store, routes: { default: peerRoute(oldIsp.port, [{ name: "old" }]) } });
    await rig.send({ to: ["a@x.test"] });
    await oldIsp.waitForMessages(1);
    await store.putRouteTable("default", routeTableSchema.parse(peerRoute(newIsp.port, [{ name: "new" }])));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await rig.send({ to: ["b@x.test"] });
    await newIsp.waitForMessages(1);
    expect(oldIsp.received).toHaveLength(1);
  });

  it("accounts that name no route take the relay's defaultRoute (in a fleet, the pool's SenderRoute); a named route stays its own", async () => {
    const poolIsp = await peer({ name: "pool.test" });
    const otherIsp = await peer({ name: "other.test" });
    const store = await redisStore();
    const rig = await startRig({
      store,
      defaultRoute: "mail/marathon",
      routes: {
        "mail/marathon": peerRoute(poolIsp.port, [{ name: "pool" }]),
        // A table literally named "default" is not what "default" means on this relay.
        default: peerRoute(otherIsp.port, [{ name: "other" }]),
        special: peerRoute(otherIsp.port, [{ name: "special" }]),
      },
      accounts: [
        { name: "acme", allowedFrom: ["*"] },
        { name: "named", allowedFrom: ["*"], route: "special" },
      ],
    });
    await rig.send({ to: ["a@x.test"] });
    await rig.send({ account: "named", to: ["b@x.test"] });
    await poolIsp.waitForMessages(1);
    await otherIsp.waitForMessages(1);
    expect(poolIsp.received.map((m) => m.to)).toEqual([["a@x.test"]]);
    expect(otherIsp.received.map((m) => m.to)).toEqual([["b@x.test"]]);
  });

  it("repeated refusals at connect count as a block, and mail moves to the next sender", async () => {
    const isp = await peer({ stage: "connect" });
    isp.forSource("127.0.0.2", "defer");
    const rig = await startRig({
      routes: {
        default: peerRoute(isp.port, [
          { name: "out1", localAddress: "127.0.0.2" },
          { name: "out2", localAddress: "127.0.0.3" },
        ]),
      },
    });
    for (let i = 0; i < 3; i++) await rig.send({ to: [`c${i}@isp.test`] });
    await rig.scheduler.idle(5000);
    expect(isp.received.map((m) => m.clientIp)).toEqual(["127.0.0.3", "127.0.0.3", "127.0.0.3"]);
    expect(await rig.store.listBlocked(Date.now())).toEqual([
      expect.objectContaining({
        sender: "out1",
        domain: "isp.test",
        reason: expect.stringContaining("repeated refusals"),
      }),
    ]);
  });
});
