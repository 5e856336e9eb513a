/**
 * The feedback loop through a whole relay (startRelay, embedded store): a
 * message goes out to one recipient per sample, each copy with its own VERP
 * return path; each real sample is then sent over SMTP to that return path,
 * as the recipient's MTA would, and lands as the right event on the right
 * message and recipient, with the suppression lists, stats, errors list,
 * notices, inspection folder and metrics to match. Forged and foreign
 * addresses are refused at RCPT, and nothing is relayed.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { describe, expect, it, onTestFinished } from "vitest";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { silentLogger } from "../../relay/log/logger.js";
import { startRelay } from "../../relay/main.js";
import { rawSmtp } from "../support/smtp-client.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { SAMPLES, sampleBytes } from "./samples.js";

const BOUNCE_DOMAIN = "bounces.relay.test";

async function startTestRelay() {
  const dir = await tempDir();
  const sink = await startSmtpPeer();
  onTestFinished(() => sink.stop());
  const dataDir = join(dir, "data");
  const config = relayConfigSchema.parse({
    dataDir,
    hostname: "relay.test",
    listen: { smtp: ["127.0.0.1:0"], api: "127.0.0.1:0", tracking: "127.0.0.1:0", metrics: "127.0.0.1:0" },
    routes: {
      default: { policy: "failover", senders: [{ name: "sink", host: "127.0.0.1", port: sink.port }] },
    },
    accounts: [
      {
        name: "shop",
        allowedIps: ["127.0.0.0/8"],
        allowedFrom: ["*@shop.test"],
        notify: { accountManager: "ops@shop.test", toAccountManager: true, toFrom: false },
      },
    ],
    bounceDomain: BOUNCE_DOMAIN,
    feedback: { loopAddresses: ["fbl"] },
  });
  const relay = await startRelay(config, silentLogger());
  onTestFinished(() => relay.stop());
  const port = (relay.intake.addresses[0] as { port: number }).port;
  const send = (envelope: { from: string; to: string[] }, raw: Buffer | string) =>
    createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true }).sendMail({ envelope, raw });
  const metrics = async () => (await fetch(`http://127.0.0.1:${relay.metricsAddress.port}/metrics`)).text();
  return { relay, sink, send, port, dataDir, metrics };
}

describe("bounces and complaints through a relay", () => {
  it("takes every sample at its copy's return path and records what it means", async () => {
    const { relay, sink, send, dataDir, metrics } = await startTestRelay();
    const { store } = relay;
    const recipients = SAMPLES.map((_, i) => `reader${i}@isp.test`);
    const loopRecipient = "fbl-reader@isp.test";
    const sent = await send(
      { from: "news@shop.test", to: [...recipients, loopRecipient] },
      "From: news@shop.test\r\nSubject: Spring sale\r\nX-Relay-Group: spring\r\n\r\nHello\r\n",
    );
    const messageId = /queued as ([0-9a-z]{23})/.exec(sent.response)?.[1] as string;
    expect(messageId).toBeDefined();
    const copies = await sink.waitForMessages(recipients.length + 1);

    // Every copy leaves with its own return path at the bounce domain, never the sender's.
    const returnPath = new Map(copies.map((copy) => [copy.to[0] as string, copy.from]));
    for (const address of [...recipients, loopRecipient]) {
      expect(returnPath.get(address)).toMatch(
        new RegExp(`^bounces\\+${messageId}-[a-z2-7]{24}@${BOUNCE_DOMAIN.replace(/\./g, "\\.")}$`),
      );
    }
    expect(new Set(returnPath.values()).size).toBe(recipients.length + 1);

    // Each sample comes back as the recipient's MTA would send it: null sender, to the return path.
    for (const [i, sample] of SAMPLES.entries()) {
      const to = returnPath.get(recipients[i] as string) as string;
      // Mailbox providers lower- or upper-case local parts; the token survives either.
      const info = await send({ from: "", to: [i % 2 === 0 ? to : to.toUpperCase()] }, sampleBytes(sample));
      expect(info.response, sample.name).toMatch(new RegExp(`^250 .*feedback received \\(${sample.kind}\\)`));
    }
    // An ISP feedback loop writes to the registered address; the report's Original-Mail-From names the copy.
    const arf = sampleBytes({ file: "fixtures/rfc5965-b2-abuse.eml" })
      .toString("latin1")
      .replace(
        "Original-Mail-From: <somespammer@example.net>",
        `Original-Mail-From: <${returnPath.get(loopRecipient)}>`,
      );
    const loop = await send({ from: "fbl@isp.test", to: [`fbl@${BOUNCE_DOMAIN}`] }, arf);
    expect(loop.response).toMatch(/feedback received \(complaint\)/);

    const record = await store.getMessage(messageId);
    const eventsOf = (address: string) =>
      (record?.events ?? []).filter((event) => event.recipient === address && event.type !== "delivered");
    const statusOf = (address: string) => record?.recipients.find((r) => r.address === address)?.status;
    const bounces = await store.listSuppressions("shop", "bounces");
    const complaints = await store.listSuppressions("shop", "complaints");
    const expectedEvent: Record<string, string | undefined> = {
      hard_bounce: "bounced",
      soft_bounce: "bounced",
      delayed: "deferred",
      complaint: "complaint",
      ignored: undefined,
      unparseable: undefined,
    };
    for (const [i, sample] of SAMPLES.entries()) {
      const address = recipients[i] as string;
      const expected = expectedEvent[sample.kind];
      const events = eventsOf(address);
      expect(
        events.map((e) => e.type),
        sample.name,
      ).toEqual(expected ? [expected] : []);
      if (sample.status) expect(events[0]?.detail, sample.name).toContain(sample.status);
      expect(statusOf(address), sample.name).toBe(expected === "bounced" ? "bounced" : "delivered");
      expect(
        bounces.items.some((entry) => entry.address === address),
        sample.name,
      ).toBe(sample.kind === "hard_bounce");
      expect(
        complaints.items.some((entry) => entry.address === address),
        sample.name,
      ).toBe(sample.kind === "complaint");
    }
    expect(eventsOf(loopRecipient).map((e) => e.type)).toEqual(["complaint"]);
    expect(complaints.items.find((entry) => entry.address === loopRecipient)).toMatchObject({
      messageId,
      reason: "feedback-type abuse",
    });
    const hard = SAMPLES.filter((s) => s.kind === "hard_bounce").length;
    const failed = SAMPLES.filter((s) => s.kind === "hard_bounce" || s.kind === "soft_bounce").length;
    expect(bounces.items).toHaveLength(hard);
    expect(bounces.items[0]).toMatchObject({ list: "bounces", messageId });

    // Stats per message and per group follow the events.
    expect(await store.getMessageStats(messageId)).toMatchObject({
      recipients: recipients.length + 1,
      bounced: failed,
      deferred: SAMPLES.filter((s) => s.kind === "delayed").length,
      complaints: 2,
    });
    expect(await store.getGroupStats("shop", "spring")).toMatchObject({ bounced: failed, complaints: 2 });

    // The account hears of hard bounces and complaints (notify: the account manager only).
    const notices = await sink.waitForMessages(recipients.length + 1 + hard + 2);
    const toManager = notices.filter((m) => m.to.includes("ops@shop.test"));
    expect(toManager).toHaveLength(hard + 2);
    for (const notice of toManager) expect(notice.from).toBe("");
    expect(toManager.filter((m) => m.raw.toString().includes("report-type=delivery-status"))).toHaveLength(
      hard,
    );
    const errors = await store.listErrors("shop");
    expect(errors.items.filter((e) => e.code === "bounced")).toHaveLength(hard);
    expect(errors.items.filter((e) => e.code === "complaint")).toHaveLength(2);
    expect(errors.items.find((e) => e.code === "complaint")?.notified).toEqual(["ops@shop.test"]);

    // What could not be read is kept, with why, and counted; so is the auth-failure report.
    const inspect = join(dataDir, "feedback", "inspect");
    const kept = (await readdir(inspect)).filter((name) => name.endsWith(".eml"));
    expect(kept).toHaveLength(
      SAMPLES.filter((s) => s.kind === "unparseable" || s.name.includes("auth-failure")).length,
    );
    const keptTexts = await Promise.all(kept.map((name) => readFile(join(inspect, name), "latin1")));
    const unparseable = keptTexts.find((text) => text.includes("reason=unparseable"));
    expect(unparseable).toContain(`message=${messageId}`);
    // Kept byte for byte after the one trace line.
    const original = sampleBytes(SAMPLES.find((s) => s.kind === "unparseable") as { file: string }).toString(
      "latin1",
    );
    expect(unparseable?.slice(unparseable.indexOf("\r\n") + 2).replace(/\r\n/g, "\n")).toBe(
      original.replace(/\r\n/g, "\n"),
    );
    expect(errors.items.filter((e) => e.code === "unparseable_feedback")).toHaveLength(1);
    const text = await metrics();
    for (const kind of ["hard_bounce", "soft_bounce", "delayed", "ignored", "unparseable"] as const) {
      const count = SAMPLES.filter((s) => s.kind === kind).length;
      expect(text).toContain(`relayfleet_feedback_received_total{kind="${kind}"} ${count}`);
    }
    expect(text).toContain('relayfleet_feedback_received_total{kind="complaint"} 2');
    expect(text).toContain(`relayfleet_feedback_kept_files ${kept.length}`);

    // A complaint stops future mail to that recipient (notify mode: accepted, then not sent).
    const complainer = recipients[SAMPLES.findIndex((s) => s.kind === "complaint")] as string;
    const again = await send(
      { from: "news@shop.test", to: [complainer, "fresh@isp.test"] },
      "From: news@shop.test\r\nSubject: Again\r\n\r\nHello again\r\n",
    );
    const againId = /queued as ([0-9a-z]{23})/.exec(again.response)?.[1] as string;
    await relay.scheduler.idle(10_000);
    const againRecord = await store.getMessage(againId);
    expect(againRecord?.recipients.find((r) => r.address === complainer)?.status).toBe("suppressed");
    expect(againRecord?.recipients.find((r) => r.address === "fresh@isp.test")?.status).toBe("delivered");
  });

  it("refuses forged, unknown and foreign addresses at RCPT and relays nothing for strangers", async () => {
    const { relay, sink, send, port, metrics } = await startTestRelay();
    const sent = await send(
      { from: "news@shop.test", to: ["reader@isp.test"] },
      "From: news@shop.test\r\nSubject: s\r\n\r\nhi\r\n",
    );
    const id = /queued as ([0-9a-z]{23})/.exec(sent.response)?.[1] as string;
    const [copy] = await sink.waitForMessages(1);
    const good = copy?.from as string;
    const forged = good.replace(/([a-z2-7])@/, (_, last: string) => `${last === "a" ? "b" : "a"}@`);
    const otherMessage = good.replace(id, `${id.slice(0, -1)}${id.endsWith("0") ? "1" : "0"}`);

    const smtp = await rawSmtp(port);
    onTestFinished(() => smtp.close());
    expect(await smtp.reply()).toMatch(/^220 /);
    expect(await smtp.command("EHLO mx.isp.test")).toMatch(/^250/);
    expect(await smtp.command("MAIL FROM:<>")).toMatch(/^250/);
    for (const address of [forged, otherMessage, `postmaster@${BOUNCE_DOMAIN}`, `bounces@${BOUNCE_DOMAIN}`]) {
      expect(await smtp.command(`RCPT TO:<${address}>`), address).toMatch(
        /^550 5\.1\.1 No such bounce address/,
      );
    }
    // Without an account, anything but the bounce domain is relaying: refused.
    expect(await smtp.command("RCPT TO:<victim@elsewhere.test>")).toMatch(/^550 5\.7\.1 Relaying denied/);
    // A genuine address is taken, but not in the same transaction as anything else.
    expect(await smtp.command(`RCPT TO:<${good}>`)).toMatch(/^250/);
    expect(await smtp.command("RCPT TO:<victim@elsewhere.test>")).toMatch(/^452 4\.5\.3/);
    expect(await smtp.command("RSET")).toMatch(/^250/);
    // A client that may relay (allowed IP) still cannot mix the two.
    expect(await smtp.command("MAIL FROM:<news@shop.test>")).toMatch(/^250/);
    expect(await smtp.command("RCPT TO:<friend@isp.test>")).toMatch(/^250/);
    expect(await smtp.command(`RCPT TO:<${good}>`)).toMatch(/^452 4\.5\.3/);
    expect(await smtp.command("QUIT")).toMatch(/^221/);

    expect(await metrics()).toMatch(/relayfleet_smtp_rejections_total\{reason="bad_bounce_address"\} 4/);
    // Nothing reached the sink but the one copy.
    await relay.scheduler.idle(5000);
    expect(sink.received).toHaveLength(1);
    const record = await relay.store.getMessage(id);
    expect(record?.events.filter((e) => e.type !== "delivered")).toEqual([]);
  });

  it("keeps a feedback-loop report that names no message, and refuses oversized reports", async () => {
    const { relay, send, dataDir } = await startTestRelay();
    const report = sampleBytes({ file: "fixtures/rfc5965-b2-abuse.eml" });
    const info = await send({ from: "fbl@isp.test", to: [`fbl@${BOUNCE_DOMAIN}`] }, report);
    expect(info.response).toMatch(/feedback received \(unparseable\)/);
    const kept = await readdir(join(dataDir, "feedback", "inspect"));
    expect(kept).toHaveLength(1);
    expect(await readFile(join(dataDir, "feedback", "inspect", kept[0] as string), "latin1")).toMatch(
      /^X-Relayfleet-Feedback: reason=unparseable: no valid token names the message \(complaint: feedback-type abuse\); from=<fbl@isp.test>; to=<fbl@bounces.relay.test>; ip=127.0.0.1; at=/,
    );
    const huge = Buffer.concat([report, Buffer.alloc(11 * 1024 * 1024, "a")]);
    await expect(send({ from: "", to: [`fbl@${BOUNCE_DOMAIN}`] }, huge)).rejects.toMatchObject({
      responseCode: 552,
    });
    expect((await relay.store.listErrors("shop")).items).toEqual([]);
  });
});
