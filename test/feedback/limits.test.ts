/**
 * What strangers can make the feedback intake keep (HOSTILE-INPUTS row 24):
 * a per-client rate of reports, the inspection folder's file, byte and age
 * caps (real files), and reports streamed to disk and read back in bounded
 * pieces. Through a whole relay where the behaviour is the relay's, on the
 * folder and the incoming files directly where it is theirs.
 */
import { readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createTransport } from "nodemailer";
import { describe, expect, it, onTestFinished } from "vitest";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { filesToRemove, IncomingReports, InspectionFolder } from "../../relay/feedback/index.js";
import { silentLogger } from "../../relay/log/logger.js";
import { startRelay } from "../../relay/main.js";
import { rawSmtp } from "../support/smtp-client.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { sampleBytes } from "./samples.js";

const BOUNCE_DOMAIN = "bounces.relay.test";
const DAY = 86_400_000;

async function startTestRelay(feedback: Record<string, unknown>) {
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
    accounts: [{ name: "shop", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@shop.test"] }],
    bounceDomain: BOUNCE_DOMAIN,
    feedback: { loopAddresses: ["fbl"], ...feedback },
  });
  const relay = await startRelay(config, silentLogger());
  onTestFinished(() => relay.stop());
  const port = (relay.intake.addresses[0] as { port: number }).port;
  const send = (envelope: { from: string; to: string[] }, raw: Buffer | string) =>
    createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true }).sendMail({ envelope, raw });
  const metrics = async () => (await fetch(`http://127.0.0.1:${relay.metricsAddress.port}/metrics`)).text();
  return { relay, sink, send, port, dataDir, metrics, inspect: join(dataDir, "feedback", "inspect") };
}

/** An ARF report naming `returnPath` after `filler` bytes of prose (so the name is far into the file). */
function arfReport(returnPath: string, filler = 0): Buffer {
  const text = sampleBytes({ file: "fixtures/rfc5965-b2-abuse.eml" })
    .toString("latin1")
    .replace("Original-Mail-From: <somespammer@example.net>", `Original-Mail-From: <${returnPath}>`);
  const prose = "This report was padded by a test to push the token far into the file.\r\n";
  const padding = prose.repeat(Math.ceil(filler / prose.length)).slice(0, filler);
  return Buffer.from(
    text.replace("about this format please see", `${padding}about this format please see`),
    "latin1",
  );
}

describe("reports from strangers through a relay", () => {
  it("cuts a flood of unauthenticated reports from one client off at the rate, while ordinary mail gets through", async () => {
    const { relay, sink, send, port, metrics } = await startTestRelay({ maxReportsPerIpPerMinute: 5 });
    const smtp = await rawSmtp(port);
    onTestFinished(() => smtp.close());
    expect(await smtp.reply()).toMatch(/^220 /);
    expect(await smtp.command("EHLO mx.isp.test")).toMatch(/^250/);
    const replies: string[] = [];
    for (let i = 0; i < 30; i++) {
      expect(await smtp.command("MAIL FROM:<>")).toMatch(/^250/);
      replies.push(await smtp.command(`RCPT TO:<fbl@${BOUNCE_DOMAIN}>`));
      expect(await smtp.command("RSET")).toMatch(/^250/);
    }
    const taken = replies.filter((reply) => reply.startsWith("250"));
    const refused = replies.filter((reply) => reply.startsWith("450 4.7.0 Too many reports"));
    // Five a minute; the flood may straddle one minute boundary, never two.
    expect(taken.length).toBeGreaterThanOrEqual(5);
    expect(taken.length).toBeLessThanOrEqual(10);
    expect(taken.length + refused.length).toBe(30);
    expect(replies.slice(0, 5).every((reply) => reply.startsWith("250"))).toBe(true);

    // The customer, from the same address, is not a report: its mail is taken and delivered.
    const info = await send(
      { from: "news@shop.test", to: ["reader@isp.test"] },
      "From: news@shop.test\r\nSubject: s\r\n\r\nhi\r\n",
    );
    expect(info.response).toMatch(/^250 .*queued as/);
    await sink.waitForMessages(1);
    await relay.scheduler.idle(10_000);
    expect(await metrics()).toMatch(
      new RegExp(`relayfleet_smtp_rejections_total\\{reason="report_rate_limited"\\} ${refused.length}\\b`),
    );
  });

  it("keeps the inspection folder under its byte cap by removing the oldest, never refusing", async () => {
    const { send, inspect, metrics, dataDir } = await startTestRelay({
      maxBytes: 64 * 1024,
      maxKeptBytes: 100 * 1024,
    });
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) {
      // 30 KB each, naming no message: kept for inspection.
      const report = arfReport(`nobody${i}@elsewhere.test`, 30_000);
      const info = await send({ from: "fbl@isp.test", to: [`fbl@${BOUNCE_DOMAIN}`] }, report);
      expect(info.response).toMatch(/feedback received \(unparseable\)/);
      const names = (await readdir(inspect)).filter((name) => name.endsWith(".eml"));
      const bytes = (await Promise.all(names.map((name) => stat(join(inspect, name))))).reduce(
        (total, info) => total + info.size,
        0,
      );
      expect(bytes).toBeLessThanOrEqual(100 * 1024);
      sizes.push(names.length);
    }
    expect(sizes.slice(0, 3)).toEqual([1, 2, 3]);
    expect(sizes.slice(3)).toEqual([3, 3, 3]);
    // The newest three are the ones kept.
    const kept = await Promise.all(
      (await readdir(inspect)).map((name) => readFile(join(inspect, name), "latin1")),
    );
    expect(kept.map((text) => /nobody(\d)@/.exec(text)?.[1]).sort()).toEqual(["3", "4", "5"]);
    expect(await metrics()).toMatch(/relayfleet_feedback_kept_files 3\b/);
    // Nothing is left half-received.
    expect(await readdir(join(dataDir, "feedback", "incoming"))).toEqual([]);
  });

  it("finds the token far into a large report, read in pieces", async () => {
    const { relay, sink, send } = await startTestRelay({});
    const sent = await send(
      { from: "news@shop.test", to: ["far@isp.test"] },
      "From: news@shop.test\r\nSubject: s\r\n\r\nhi\r\n",
    );
    const id = /queued as ([0-9a-z]{23})/.exec(sent.response)?.[1] as string;
    const [copy] = await sink.waitForMessages(1);
    // 600 KB of prose first: the return path is past the first piece the receiver reads.
    const report = arfReport(copy?.from as string, 600_000);
    const info = await send({ from: "fbl@isp.test", to: [`fbl@${BOUNCE_DOMAIN}`] }, report);
    expect(info.response).toMatch(/feedback received \(complaint\)/);
    const record = await relay.store.getMessage(id);
    expect(record?.events.filter((event) => event.type === "complaint")).toHaveLength(1);
  });

  it("receives at most maxConcurrentReports at once, answering the next 451 4.3.2 after reading it", async () => {
    const { port, inspect } = await startTestRelay({ maxConcurrentReports: 1 });
    const open = async () => {
      const smtp = await rawSmtp(port);
      onTestFinished(() => smtp.close());
      expect(await smtp.reply()).toMatch(/^220 /);
      expect(await smtp.command("EHLO mx.isp.test")).toMatch(/^250/);
      expect(await smtp.command("MAIL FROM:<>")).toMatch(/^250/);
      expect(await smtp.command(`RCPT TO:<fbl@${BOUNCE_DOMAIN}>`)).toMatch(/^250/);
      expect(await smtp.command("DATA")).toMatch(/^354/);
      return smtp;
    };
    const report = arfReport("nobody@elsewhere.test").toString("latin1").replace(/\r?\n/g, "\r\n");
    const slow = await open();
    slow.send(report.slice(0, 500));
    const second = await open();
    second.send(`${report}\r\n.\r\n`);
    expect(await second.reply(20_000)).toMatch(/^451 4\.3\.2 Too many reports in progress/);
    // The one in progress is unaffected, and the next one is taken once it is done.
    slow.send(`${report.slice(500)}\r\n.\r\n`);
    expect(await slow.reply(20_000)).toMatch(/^250 .*feedback received/);
    expect(await second.command("MAIL FROM:<>")).toMatch(/^250/);
    expect(await second.command(`RCPT TO:<fbl@${BOUNCE_DOMAIN}>`)).toMatch(/^250/);
    expect(await second.command("DATA")).toMatch(/^354/);
    second.send(`${report}\r\n.\r\n`);
    expect(await second.reply(20_000)).toMatch(/^250 .*feedback received/);
    expect((await readdir(inspect)).filter((name) => name.endsWith(".eml"))).toHaveLength(2);
  });

  it("refuses a config whose byte cap could not hold one report", () => {
    expect(() =>
      relayConfigSchema.parse({ feedback: { maxBytes: 10 * 1024 * 1024, maxKeptBytes: 1024 * 1024 } }),
    ).toThrow(/maxKeptBytes must be at least maxBytes/);
  });
});

describe("the inspection folder", () => {
  const meta = (at: number) => ({
    reason: "test",
    mailFrom: "",
    rcptTo: ["fbl@b.test"],
    clientIp: "192.0.2.1",
    at,
  });

  it("chooses the expired files, then the oldest over a cap, never one being written (pure)", () => {
    const limits = { maxFiles: 3, maxBytes: 1000, keepMs: 10_000 };
    const files = [
      { name: "a", size: 100, at: 1_000 },
      { name: "b", size: 400, at: 20_000 },
      { name: "c", size: 400, at: 21_000 },
      { name: "d", size: 100, at: 22_000, pending: true },
    ];
    expect(filesToRemove(files, limits, 15_000)).toEqual(["a"]);
    expect(filesToRemove(files.slice(1), limits, 25_000, { size: 300 })).toEqual(["b"]);
    expect(filesToRemove(files.slice(1), limits, 25_000, { size: 1000 })).toEqual(["b", "c"]);
    expect(filesToRemove([files[3] as (typeof files)[number]], limits, 99_000, { size: 5000 })).toEqual([]);
    expect(filesToRemove(files.slice(1, 3), { ...limits, maxFiles: 2 }, 25_000, { size: 1 })).toEqual(["b"]);
  });

  it("keeps within its file and byte caps on real files, oldest out first", async () => {
    const dir = await tempDir();
    let now = 1_000_000;
    const folder = await InspectionFolder.open(dir, { maxFiles: 4, maxBytes: 5_000, keepMs: DAY }, () => now);
    const names: string[] = [];
    for (let i = 0; i < 8; i++) {
      now += 1000;
      names.push(await folder.keep(Buffer.alloc(1_000, 97 + i), meta(now)));
    }
    const left = (await readdir(dir)).sort();
    // Each file is 1000 bytes plus its trace line: four fit under 5000 bytes, and the count cap is four.
    expect(left).toEqual(names.slice(4).sort());
    expect(folder.files).toBe(4);
    expect(folder.bytes).toBeLessThanOrEqual(5_000);
    // A bigger one pushes out as many of the oldest as it needs.
    await folder.keep(Buffer.alloc(3_000, 122), meta(now));
    expect((await readdir(dir)).length).toBe(2);
    expect(folder.bytes).toBeLessThanOrEqual(5_000);
  });

  it("removes files past their age on the sweep and at start", async () => {
    const dir = await tempDir();
    let now = 10 * DAY;
    const folder = await InspectionFolder.open(dir, { maxFiles: 100, maxBytes: 1e9, keepMs: DAY }, () => now);
    const old = await folder.keep(Buffer.from("old"), meta(now));
    now += DAY / 2;
    const young = await folder.keep(Buffer.from("young"), meta(now));
    now += DAY / 2 + 1;
    expect(await folder.sweep()).toBe(1);
    expect(await readdir(dir)).toEqual([young]);
    expect(old).not.toBe(young);

    // A file left from before a restart is judged by its modification time.
    const stale = join(dir, "2020-01-01T00-00-00-000Z-aaaaaaaaaaaa.eml");
    await writeFile(stale, "X-Relayfleet-Feedback: reason=old\r\n\r\nbody\r\n");
    const longAgo = new Date(Date.now() - 30 * DAY);
    await utimes(stale, longAgo, longAgo);
    await writeFile(join(dir, "half-written.eml.tmp"), "partial");
    const reopened = await InspectionFolder.open(dir, { maxFiles: 100, maxBytes: 1e9, keepMs: DAY });
    expect((await readdir(dir)).sort()).toEqual([young]);
    expect(reopened.files).toBe(1);
    // ... and a lowered cap applies at start too.
    await InspectionFolder.open(dir, { maxFiles: 100, maxBytes: 10, keepMs: DAY });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("incoming reports", () => {
  it("are written to disk as they arrive, capped, and read back in overlapping pieces", async () => {
    const incoming = await IncomingReports.open(await tempDir(), 4);
    const token = "bounces+TOKEN-THAT-STRADDLES@b.test";
    // The token starts 10 bytes before the first 256 KiB piece ends.
    const body = Buffer.concat([
      Buffer.alloc(256 * 1024 - 10, "x"),
      Buffer.from(token),
      Buffer.alloc(700 * 1024, "y"),
    ]);
    const chunked = Readable.from(
      Array.from({ length: Math.ceil(body.length / 16_384) }, (_, i) =>
        body.subarray(i * 16_384, (i + 1) * 16_384),
      ),
    );
    const report = await incoming.receive(chunked, 2 * 1024 * 1024);
    onTestFinished(() => report.discard());
    expect(report.tooLarge).toBe(false);
    expect(report.size).toBe(body.length);
    expect((await readFile(report.path)).equals(body)).toBe(true);
    const pieces: string[] = [];
    for await (const piece of report.texts()) pieces.push(piece);
    expect(pieces.length).toBeGreaterThan(2);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThanOrEqual(256 * 1024 + 4096);
    expect(pieces.some((piece) => piece.includes(token))).toBe(true);
    expect((await report.head(1000)).length).toBe(1000);

    const tooBig = await incoming.receive(Readable.from([body, body]), 1024 * 1024);
    expect(tooBig.tooLarge).toBe(true);
    expect((await stat(tooBig.path)).size).toBeLessThanOrEqual(1024 * 1024);
    await tooBig.discard();
    await report.discard();
    expect(await readdir(incoming.dir)).toEqual([]);
  });

  it("leave no file when the stream fails, and none from a previous run", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "left-over.part"), "from a crash");
    const incoming = await IncomingReports.open(dir, 4);
    expect(await readdir(dir)).toEqual([]);
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000, "a"));
        this.destroy(new Error("client went away"));
      },
    });
    await expect(incoming.receive(failing, 1024 * 1024)).rejects.toThrow(/client went away/);
    expect(await readdir(dir)).toEqual([]);
  });
});
