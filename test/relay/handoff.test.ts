/**
 * Hand-off between two whole relays sharing one Redis, as two pods of a pool:
 * relay A holds deferred mail, drains, and hands its queue to relay B, which
 * delivers it under the same message IDs (the log and stats carry on); A's
 * spool is empty after, and nothing arrives twice.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { describe, expect, it, onTestFinished } from "vitest";
import { type RelayConfigInput, relayConfigSchema } from "../../relay/config/schema.js";
import { silentLogger } from "../../relay/log/logger.js";
import { type Relay, startRelay } from "../../relay/main.js";
import { encodeEnvelope } from "../../relay/spool/envelope.js";
import { freePort } from "../support/free-port.js";
import { startRedisServer } from "../support/redis-server.js";
import { type SmtpPeer, startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";

const TOKEN = "t".repeat(32);

async function startPoolRelay(redisUrl: string, peer: SmtpPeer, extra: Partial<RelayConfigInput> = {}) {
  const dir = await tempDir();
  const relay = await startRelay(
    relayConfigSchema.parse({
      dataDir: join(dir, "data"),
      hostname: "relay.test",
      listen: { smtp: ["127.0.0.1:0"], api: "127.0.0.1:0", tracking: "127.0.0.1:0", metrics: "127.0.0.1:0" },
      store: { redis: redisUrl },
      apiToken: TOKEN,
      trackingSecret: "s".repeat(43),
      routes: {
        default: { policy: "failover", senders: [{ name: "isp", host: "127.0.0.1", port: peer.port }] },
      },
      accounts: [{ name: "acme", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*"] }],
      ...extra,
    }),
    silentLogger(),
  );
  onTestFinished(() => relay.stop());
  return relay;
}

const api = (relay: Relay) => `http://127.0.0.1:${relay.apiAddress.port}`;
const admin = { authorization: `Bearer ${TOKEN}` };
const queued = async (relay: Relay) =>
  (await readdir(relay.spool.queueDir)).filter((name) => name.endsWith(".msg")).length;

describe("handing a draining relay's queue to another relay", () => {
  it("moves deferred mail to a relay that delivers it, under the same IDs, once", async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const isp = await startSmtpPeer({ name: "isp.test" });
    onTestFinished(() => isp.stop());
    isp.setDefault("defer");
    const a = await startPoolRelay(redis.url, isp);
    const b = await startPoolRelay(redis.url, isp);

    const smtp = createTransport({
      host: "127.0.0.1",
      port: (a.intake.addresses[0] as { port: number }).port,
      secure: false,
      ignoreTLS: true,
    });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const info = await smtp.sendMail({
        envelope: { from: "app@acme.test", to: [`r${i}@isp.test`, `s${i}@isp.test`] },
        raw: `From: app@acme.test\r\nTo: r${i}@isp.test\r\nSubject: m${i}\r\nMessage-ID: <m${i}@acme.test>\r\n\r\nhello ${i}\r\n`,
      });
      ids.push(/queued as (\S+)/.exec(info.response)?.[1] as string);
    }
    smtp.close();
    // Every copy deferred once at A: its progress file says so, with a retry a minute away.
    await expect
      .poll(() => a.store.getMessage(ids[3] as string).then((m) => m?.recipients[1]?.status), {
        timeout: 10_000,
      })
      .toBe("deferred");
    expect(await queued(a)).toBe(4);

    // A hand-off needs the admin token and a draining relay.
    const handoff = (body: unknown, headers: Record<string, string> = admin) =>
      fetch(`${api(a)}/v1/admin/handoff`, { method: "POST", headers, body: JSON.stringify(body) });
    expect((await handoff({ targets: [api(b)] }, {})).status).toBe(401);
    expect((await handoff({ targets: [api(b)] })).status).toBe(409);
    await fetch(`${api(a)}/v1/admin/drain`, { method: "POST", headers: admin });
    expect((await handoff({ targets: ["file:///etc/passwd"] })).status).toBe(400);

    isp.setDefault("accept");
    expect((await handoff({ targets: [api(b)] })).status).toBe(202);
    await expect.poll(() => queued(a), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => isp.received.length, { timeout: 15_000 }).toBe(8);
    expect(isp.received.flatMap((m) => m.to).sort()).toEqual(
      [0, 1, 2, 3].flatMap((i) => [`r${i}@isp.test`, `s${i}@isp.test`]).sort(),
    );
    // The same messages in the shared log: delivered now, by B, after A's deferrals.
    for (const id of ids) {
      const message = await b.store.getMessage(id);
      expect(message?.recipients.map((r) => r.status)).toEqual(["delivered", "delivered"]);
    }
    await expect.poll(() => queued(b), { timeout: 5_000 }).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${a.metricsAddress.port}/metrics`)).text();
    expect(metrics).toMatch(/relayfleet_queue_messages\{state="queued"\} 0/);
  }, 60_000);

  it("a relay stopped with mail still queued (SIGTERM) hands it to the relays its handoffDns names", async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const isp = await startSmtpPeer({ name: "isp.test" });
    onTestFinished(() => isp.stop());
    isp.setDefault("defer");
    const bApiPort = await freePort();
    const b = await startPoolRelay(redis.url, isp, {
      listen: {
        smtp: ["127.0.0.1:0"],
        api: `127.0.0.1:${bApiPort}`,
        tracking: "127.0.0.1:0",
        metrics: "127.0.0.1:0",
      },
    });
    // "localhost" plays the headless Service: its addresses, on the API port, are the other relays.
    const a = await startPoolRelay(redis.url, isp, {
      shutdown: { queueSeconds: 1, handoffDns: "localhost", handoffPort: bApiPort },
    });
    const smtp = createTransport({
      host: "127.0.0.1",
      port: (a.intake.addresses[0] as { port: number }).port,
      secure: false,
      ignoreTLS: true,
    });
    const info = await smtp.sendMail({
      envelope: { from: "app@acme.test", to: ["late@isp.test"] },
      raw: "From: app@acme.test\r\nSubject: queued at shutdown\r\n\r\nhi\r\n",
    });
    smtp.close();
    const id = /queued as (\S+)/.exec(info.response)?.[1] as string;
    await expect
      .poll(() => a.store.getMessage(id).then((m) => m?.recipients[0]?.status), { timeout: 10_000 })
      .toBe("deferred");

    isp.setDefault("accept");
    await a.stop();
    expect(await queued(a)).toBe(0);
    await isp.waitForMessages(1, 10_000);
    expect(isp.received.map((m) => m.to)).toEqual([["late@isp.test"]]);
    await expect.poll(() => b.store.getMessage(id).then((m) => m?.recipients[0]?.status)).toBe("delivered");
  }, 60_000);

  it("is refused by a relay with the embedded store (a message's log would not follow it)", async () => {
    const dir = await tempDir();
    const alone = await startRelay(
      relayConfigSchema.parse({
        dataDir: join(dir, "data"),
        listen: {
          smtp: ["127.0.0.1:0"],
          api: "127.0.0.1:0",
          tracking: "127.0.0.1:0",
          metrics: "127.0.0.1:0",
        },
        apiToken: TOKEN,
      }),
      silentLogger(),
    );
    onTestFinished(() => alone.stop());
    const answer = await fetch(`${api(alone)}/v1/admin/spool`, {
      method: "POST",
      headers: admin,
      body: "null\n",
    });
    expect(answer.status).toBe(409);
    expect(await answer.json()).toEqual({ error: "hand-off needs relays that share a Store (store.redis)" });
  });

  it("refuses what is not a spooled message, and takes the same message only once", async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const isp = await startSmtpPeer({ name: "isp.test" });
    onTestFinished(() => isp.stop());
    const b = await startPoolRelay(redis.url, isp);
    const post = (body: string | Buffer, headers: Record<string, string> = admin) =>
      fetch(`${api(b)}/v1/admin/spool`, {
        method: "POST",
        headers,
        body: typeof body === "string" ? body : new Uint8Array(body),
      });
    const envelope = (id: string) =>
      encodeEnvelope({
        v: 1,
        id,
        account: "acme",
        from: "app@acme.test",
        to: ["x@isp.test"],
        clientIp: "127.0.0.1",
        heloName: "client.test",
        receivedAt: Date.now(),
        listener: "127.0.0.1:25",
        transmissionType: "ESMTP",
        refused: [],
      });
    const message = Buffer.from("From: app@acme.test\r\nSubject: handed\r\n\r\nhi\r\n");

    expect(
      (await post(Buffer.concat([Buffer.from("null\n"), envelope("a".repeat(23)), message]), {})).status,
    ).toBe(401);
    const traversal = await post(
      Buffer.concat([Buffer.from("null\n"), envelope("../../../etc/cron.d/x1234"), message]),
    );
    expect(traversal.status).toBe(400);
    expect(await traversal.json()).toEqual({ error: "envelope id: not a spool ID" });
    expect((await post("not json\n")).status).toBe(400);
    expect((await post("null\nRFSPOOL1 {}\n")).status).toBe(400);

    const id = "0mx1handoff0test0000001";
    const first = await post(Buffer.concat([Buffer.from("null\n"), envelope(id), message]));
    expect(await first.json()).toEqual({ status: "taken", id });
    await isp.waitForMessages(1);
    // Sent again (an answer lost on the way back): while the first is still here, it is not taken twice.
    isp.setDefault("defer");
    const id2 = "0mx1handoff0test0000002";
    await post(Buffer.concat([Buffer.from("null\n"), envelope(id2), message]));
    const again = await post(Buffer.concat([Buffer.from("null\n"), envelope(id2), message]));
    expect(await again.json()).toEqual({ status: "already here", id: id2 });
    expect(await queued(b)).toBe(1);
  }, 30_000);
});
