/**
 * Delivery against real SMTP peers on loopback playing ISPs: copies, envelopes,
 * retries, bounces and their notices, MX look-ups, run-time mode switches.
 */
import { readdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, expect, it, onTestFinished } from "vitest";
import type { TransformContext } from "../../relay/copy/index.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { peerRoute, startRig } from "./harness.js";

async function peer(options: Parameters<typeof startSmtpPeer>[0] = {}) {
  const started = await startSmtpPeer(options);
  onTestFinished(() => started.stop());
  return started;
}

describe("delivery", () => {
  it("sends one copy per recipient with a Received header, the exact envelope and the sender's source address", async () => {
    const isp = await peer();
    const rig = await startRig({
      routes: { default: peerRoute(isp.port, [{ name: "out1", localAddress: "127.0.0.2" }]) },
    });
    const entry = await rig.send({
      to: ["one@isp.test", "user%other.test@isp.test"],
      headers: "Bcc: stowaway@evil.test\r\nX-Relay-Group: g\r\n",
    });
    const received = await isp.waitForMessages(2);
    await rig.scheduler.idle();
    expect(received.map((m) => m.to).sort()).toEqual([["one@isp.test"], ["user%other.test@isp.test"]]);
    for (const message of received) {
      expect(message.from).toBe("app@acme.test");
      expect(message.clientIp).toBe("127.0.0.2");
      expect(message.heloName).toBe("relay.test");
      const text = message.raw.toString();
      expect(
        text.startsWith(
          `Received: from client.test ([192.0.2.10])\r\n\tby relay.test (relayfleet)\r\n\twith ESMTPA id ${entry.id}\r\n\tfor <${message.to[0]}>;`,
        ),
      ).toBe(true);
      expect(text).toContain("Bcc: stowaway@evil.test");
    }
    expect(isp.received.some((m) => m.to.includes("stowaway@evil.test"))).toBe(false);
    const record = await rig.store.getMessage(entry.id);
    expect(record?.recipients.map((r) => r.status)).toEqual(["delivered", "delivered"]);
    expect(record?.recipients[0]?.attempts[0]).toMatchObject({
      sender: "out1",
      sourceIp: "127.0.0.2",
      outcome: "delivered",
      responseCode: 250,
    });
    expect(await readdir(rig.spool.queueDir)).toEqual([]);
    const metrics = await rig.metrics.registry.metrics();
    expect(metrics).toContain('relayfleet_deliveries_total{result="delivered"} 2');
    expect(metrics).toMatch(/relayfleet_delivery_latency_seconds_count 2/);
  });

  it("retries a deferral with backoff, then delivers", async () => {
    const isp = await peer();
    isp.forRecipient("later@isp.test", "defer");
    const rig = await startRig({ routes: { default: peerRoute(isp.port, [{ name: "out1" }]) } });
    const entry = await rig.send({ to: ["later@isp.test", "now@isp.test"] });
    await isp.waitForMessages(1);
    // The deferred recipient's progress is on disk while it waits.
    await expect
      .poll(async () => (await readdir(rig.spool.queueDir)).sort())
      .toEqual([`${entry.id}.msg`, `${entry.id}.state`]);
    isp.forRecipient("later@isp.test", "accept");
    await rig.scheduler.idle();
    expect(isp.received.map((m) => m.to[0]).sort()).toEqual(["later@isp.test", "now@isp.test"]);
    const record = await rig.store.getMessage(entry.id);
    const later = record?.recipients.find((r) => r.address === "later@isp.test");
    expect(later?.status).toBe("delivered");
    expect(later?.attempts[0]).toMatchObject({ outcome: "deferred", responseCode: 451 });
    expect(later?.attempts.at(-1)?.outcome).toBe("delivered");
    expect(await readdir(rig.spool.queueDir)).toEqual([]);
  });

  it("keeps retrying until the maximum age, then bounces with a DSN to the sender and the account manager", async () => {
    const isp = await peer();
    isp.forRecipient("never@isp.test", "defer");
    const rig = await startRig({
      accounts: [{ name: "acme", allowedFrom: ["*"], notify: { accountManager: "ops@acme.test" } }],
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
      retry: { baseMs: 40, maxMs: 80, jitter: 0, maxAgeMs: 400 },
    });
    const entry = await rig.send({ to: ["never@isp.test"], subject: "race results" });
    await rig.scheduler.idle(5000);
    const notices = isp.received.filter((m) => m.from === "");
    expect(notices.map((m) => m.to[0]).sort()).toEqual(["app@acme.test", "ops@acme.test"]);
    const dsn = notices[0]?.raw.toString() ?? "";
    expect(dsn).toContain("report-type=delivery-status");
    expect(dsn).toMatch(/Final-Recipient: rfc822; never@isp.test\r\nAction: failed\r\nStatus: 4\.7\.1/);
    expect(dsn).toContain("Subject: race results");
    const record = await rig.store.getMessage(entry.id);
    expect(record?.recipients[0]?.status).toBe("bounced");
    expect(record?.recipients[0]?.attempts.length).toBeGreaterThanOrEqual(3);
    const errors = await rig.store.listErrors("acme");
    expect(errors.items).toEqual([
      expect.objectContaining({
        code: "expired",
        messageId: entry.id,
        recipient: "never@isp.test",
        notified: ["ops@acme.test", "app@acme.test"],
      }),
    ]);
  });

  it("a 5.1.1 bounce joins the bounce list, and the DSN goes to the sender only when the account says so", async () => {
    const isp = await peer();
    isp.forRecipient("gone@isp.test", "reject");
    const rig = await startRig({
      accounts: [
        {
          name: "acme",
          allowedFrom: ["*"],
          notify: { accountManager: "ops@acme.test", toAccountManager: false },
        },
      ],
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
    });
    const entry = await rig.send({ to: ["gone@isp.test", "here@isp.test"] });
    await rig.scheduler.idle();
    expect((await rig.store.getSuppression("acme", "bounces", "gone@isp.test"))?.messageId).toBe(entry.id);
    const notices = isp.received.filter((m) => m.from === "");
    expect(notices.map((m) => m.to)).toEqual([["app@acme.test"]]);
    expect(notices[0]?.raw.toString()).toMatch(
      /Status: 5\.1\.1\r\nRemote-MTA: dns; 127\.0\.0\.1\r\nDiagnostic-Code: smtp; 550 5\.1\.1/,
    );
    expect(isp.received.filter((m) => m.from !== "").map((m) => m.to)).toEqual([["here@isp.test"]]);
  });

  it("recipients refused after acceptance get a notice instead of delivery; a notice about a notice never goes out", async () => {
    const isp = await peer();
    const rig = await startRig({
      accounts: [
        { name: "acme", allowedFrom: ["*"], notify: { accountManager: "ops@acme.test", toFrom: false } },
      ],
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
    });
    const entry = await rig.send({
      to: ["unsub@isp.test", "ok@isp.test"],
      refused: [{ address: "unsub@isp.test", code: "suppressed", reason: "on the unsubscribe list" }],
    });
    // A bounce we relay (null sender) that fails: recorded, never answered.
    isp.forRecipient("bounced-bounce@isp.test", "reject");
    const nullSender = await rig.send({ from: "", to: ["bounced-bounce@isp.test"] });
    await rig.scheduler.idle();
    expect(isp.received.filter((m) => m.from !== "").map((m) => m.to)).toEqual([["ok@isp.test"]]);
    const notices = isp.received.filter((m) => m.from === "");
    expect(notices.map((m) => m.to)).toEqual([["ops@acme.test"]]);
    expect(notices[0]?.raw.toString()).toContain("Final-Recipient: rfc822; unsub@isp.test");
    expect(notices[0]?.raw.toString()).toContain("Subject: Mail not sent to some recipients");
    const errors = (await rig.store.listErrors("acme")).items;
    expect(errors.find((e) => e.messageId === entry.id)).toMatchObject({
      code: "suppressed",
      recipient: "unsub@isp.test",
      notified: ["ops@acme.test"],
    });
    expect(errors.find((e) => e.messageId === nullSender.id)).toMatchObject({
      code: "bounced",
      notified: [],
    });
  });

  it("delivers direct to MX through the resolver, trying the next MX when one is down, from the sender's address", async () => {
    const isp = await peer();
    const rig = await startRig({
      routes: {
        default: {
          senders: [{ name: "direct", mx: true, port: isp.port, localAddress: "127.0.0.4", tls: "none" }],
        },
      },
      resolver: async (domain) => {
        if (domain === "nomail.test") return [{ exchange: ".", priority: 0 }];
        return [
          { exchange: "127.0.0.1", priority: 20 },
          // Nothing listens here: the first choice is down.
          { exchange: "127.0.0.9", priority: 10 },
        ];
      },
    });
    const entry = await rig.send({ to: ["someone@mx.test", "nobody@nomail.test"] });
    await rig.scheduler.idle();
    expect(isp.received.filter((m) => m.from !== "").map((m) => [m.to[0], m.clientIp])).toEqual([
      ["someone@mx.test", "127.0.0.4"],
    ]);
    const record = await rig.store.getMessage(entry.id);
    expect(record?.recipients.find((r) => r.address === "someone@mx.test")?.attempts[0]?.remoteHost).toBe(
      "127.0.0.1",
    );
    expect(record?.recipients.find((r) => r.address === "nobody@nomail.test")).toMatchObject({
      status: "bounced",
    });
  });

  it("passes the mode to the transform, and switches to passthrough at run time", async () => {
    const isp = await peer();
    const modes: string[] = [];
    const transform = (source: Readable, ctx: TransformContext) => {
      modes.push(ctx.mode);
      return Readable.from(
        (async function* () {
          yield Buffer.from(`X-Copy-For: ${ctx.recipient}\r\n`);
          yield* source;
        })(),
      );
    };
    const rig = await startRig({
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
      transform,
      tracking: { baseUrl: "http://t.test", keys: { current: { id: "k1", secret: Buffer.alloc(32, 1) } } },
    });
    await rig.send({ to: ["a@isp.test"] });
    await isp.waitForMessages(1);
    rig.scheduler.setMode("passthrough");
    await rig.send({ to: ["b@isp.test"] });
    await isp.waitForMessages(2);
    expect(modes).toEqual(["full", "passthrough"]);
    expect(isp.received[0]?.raw.toString()).toMatch(/^Received: [\s\S]*\r\nX-Copy-For: a@isp\.test\r\nFrom:/);
  });

  it("a message the transform cannot process bounces as unparseable, with a notice", async () => {
    const isp = await peer();
    const rig = await startRig({
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
      transform: () =>
        new Readable({
          read() {
            this.destroy(new Error("MIME structure beyond repair"));
          },
        }),
      tracking: { baseUrl: "http://t.test", keys: { current: { id: "k1", secret: Buffer.alloc(32, 1) } } },
    });
    const entry = await rig.send({ to: ["x@isp.test"] });
    await rig.scheduler.idle();
    expect(isp.received.filter((m) => m.from !== "")).toEqual([]);
    const errors = (await rig.store.listErrors("acme")).items;
    expect(errors[0]).toMatchObject({
      code: "unparseable",
      messageId: entry.id,
      notified: ["app@acme.test"],
    });
    expect(isp.received.filter((m) => m.from === "").map((m) => m.to)).toEqual([["app@acme.test"]]);
  });
});
