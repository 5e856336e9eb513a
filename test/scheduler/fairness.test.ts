/**
 * Fairness on real peers: a burst from one account does not hold up another
 * account's trickle; a dedicated lane keeps its reserve while shared slots
 * are saturated; domain and sender caps hold.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { describe, expect, it, onTestFinished } from "vitest";
import type { SpoolEntry } from "../../relay/spool/spool.js";
import { peerRoute, type Rig, spoolMessage, startRig } from "../delivery/harness.js";
import { startSmtpPeer } from "../support/smtp-peer.js";

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A peer that takes `delayMs` to answer each DATA, and tracks how many transactions run at once. */
async function slowPeer(delayMs: number) {
  let active = 0;
  let maxActive = 0;
  const received: { to: string; at: number }[] = [];
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS", "AUTH"],
    authOptional: true,
    logger: false,
    onMailFrom(_address, _session, callback) {
      active++;
      maxActive = Math.max(maxActive, active);
      callback();
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on("end", () =>
        setTimeout(() => {
          active--;
          received.push({ to: session.envelope.rcptTo[0]?.address ?? "", at: Date.now() });
          callback();
        }, delayMs),
      );
    },
  });
  server.listen(0, "127.0.0.1");
  await once(server.server, "listening");
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    get maxActive() {
      return maxActive;
    },
  };
}

async function trickle(rig: Rig, account: string, count: number, gapMs: number): Promise<SpoolEntry[]> {
  const entries: SpoolEntry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push(await rig.send({ account, to: [`${account}-${Date.now()}-${i}@isp.test`] }));
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  return entries;
}

describe("fairness", () => {
  it("account B's latency stays low while account A's burst drains", async () => {
    const isp = await startSmtpPeer();
    onTestFinished(() => isp.stop());
    const rig = await startRig({
      accounts: [
        { name: "a", allowedFrom: ["*"] },
        { name: "b", allowedFrom: ["*"] },
      ],
      routes: { default: peerRoute(isp.port, [{ name: "out1", localAddress: "127.0.0.2" }]) },
    });
    const latencyOf = (account: string) => {
      const sent = new Map<string, number>();
      return {
        sent,
        latencies: () =>
          isp.received
            .filter((m) => m.to[0]?.startsWith(`${account}-`) && sent.has(m.to[0]))
            .map((m) => m.receivedAt - (sent.get(m.to[0] as string) as number)),
      };
    };
    const b = latencyOf("b");
    const record = (entries: SpoolEntry[], into: Map<string, number>) => {
      for (const e of entries) into.set(e.envelope.to[0] as string, e.envelope.receivedAt);
    };

    // Warm up: the first copy opens the outbound connection.
    await rig.send({ account: "b", to: ["b-warmup@isp.test"] });
    await rig.scheduler.idle();
    record(await trickle(rig, "b", 20, 15), b.sent);
    await rig.scheduler.idle();
    const idle = b.latencies();
    expect(idle).toHaveLength(20);

    const burstSize = 3000;
    const burst = await Promise.all(
      Array.from({ length: burstSize }, (_, i) =>
        spoolMessage(rig.spool, rig.store, { account: "a", to: [`a-${i}@isp.test`] }),
      ),
    );
    const burstStart = Date.now();
    for (const entry of burst) rig.scheduler.enqueue(entry);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const bDuring = latencyOf("b");
    record(await trickle(rig, "b", 20, 15), bDuring.sent);
    await expect.poll(() => bDuring.latencies().length, { timeout: 10_000 }).toBe(20);
    const aLeftWhenBDone = rig.scheduler.counts().messages;
    await rig.scheduler.idle(60_000);
    const burstSeconds = (Date.now() - burstStart) / 1000;
    const during = bDuring.latencies();
    const burstSent = new Map(burst.map((e) => [e.envelope.to[0] as string, burstStart]));
    const aLatencies = isp.received
      .filter((m) => burstSent.has(m.to[0] as string))
      .map((m) => m.receivedAt - burstStart);
    const report = {
      aP50: percentile(aLatencies, 50),
      idleP50: percentile(idle, 50),
      idleP99: percentile(idle, 99),
      burstP50: percentile(during, 50),
      burstP99: percentile(during, 99),
      aMessagesStillQueuedWhenBFinished: aLeftWhenBDone,
      burstRatePerSecond: Math.round(burstSize / burstSeconds),
    };
    console.info(`fairness: ${JSON.stringify(report)}`);
    // B really competed with a backlog, and never queued behind it: its worst copy beats A's median.
    // (Here the peer, the load and the relay share one event loop, so B's figures are pessimistic;
    // the 2x-of-idle target is measured by the benchmark's fairness section, docs/testing.md.)
    expect(aLeftWhenBDone).toBeGreaterThan(100);
    expect(report.burstP99).toBeLessThan(report.aP50);
  });

  it("a dedicated lane keeps its reserved slots while shared slots are saturated", async () => {
    // Bulk's copies each hold a shared slot for 2 s: a VIP copy that had to wait for one
    // would take over a second, however loaded the machine is (no tight timing here).
    const slow = await slowPeer(2000);
    const fast = await startSmtpPeer();
    onTestFinished(() => fast.stop());
    const rig = await startRig({
      accounts: [
        { name: "bulk", allowedFrom: ["*"], route: "slow" },
        { name: "vip", allowedFrom: ["*"], route: "fast", lane: "dedicated" },
      ],
      routes: { slow: peerRoute(slow.port, [{ name: "s" }]), fast: peerRoute(fast.port, [{ name: "f" }]) },
      limits: { total: 4, dedicatedReserve: 2, perDomain: 100 },
    });
    await Promise.all(
      Array.from({ length: 4 }, (_, i) => rig.send({ account: "bulk", to: [`bulk-${i}@isp.test`] })),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const vip = await trickle(rig, "vip", 5, 20);
    await fast.waitForMessages(5);
    const latencies = fast.received.map((m, i) => m.receivedAt - (vip[i]?.envelope.receivedAt ?? 0));
    // Bulk holds both shared slots for 2 s at a time; the VIP never waits for them.
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect(rig.scheduler.counts().messages).toBeGreaterThan(0);
    await rig.scheduler.idle(10_000);
    // Two shared slots: bulk never had more than two transactions open.
    expect(slow.maxActive).toBe(2);
  });

  it("caps concurrent deliveries per domain (direct to MX) and per sender", async () => {
    const slow = await slowPeer(50);
    const rig = await startRig({
      routes: {
        default: { senders: [{ name: "s", mx: true, port: slow.port, tls: "none", maxConnections: 3 }] },
      },
      resolver: async () => [{ exchange: "127.0.0.1", priority: 10 }],
      limits: { total: 100, perDomain: 2 },
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => rig.send({ to: [`d${i}@one.test`] })));
    await rig.scheduler.idle(10_000);
    expect(slow.maxActive).toBe(2);
    const before = slow.received.length;
    await Promise.all(Array.from({ length: 12 }, (_, i) => rig.send({ to: [`x${i}@d${i % 6}.test`] })));
    await rig.scheduler.idle(10_000);
    expect(slow.received.length - before).toBe(12);
    expect(slow.maxActive).toBe(3);
  });
});
