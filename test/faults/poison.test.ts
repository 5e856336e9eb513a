/**
 * Poison messages (HOSTILE-INPUTS row 23) against real relay processes: a copy that is slow
 * is cut off at its deadline and the message quarantined (reason file, errors list, a notice
 * to the sender, the metric) while another account's mail is delivered and /healthz answers;
 * a message in flight during two kill -9s in a row is quarantined at the next start instead
 * of resumed. The slow copy is genuinely slow, not a test switch: tens of MiB of HTML parts
 * packed with links, each part parsed and (the first 65,536 links) rewritten and signed.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { describe, expect, it, onTestFinished } from "vitest";
import { type RelayProcess, startRelayProcess } from "../support/relay-process.js";
import { type SmtpPeer, startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";

const API_TOKEN = "poison-test-admin-token-0123456789";
/**
 * How soon another account's message must arrive while the poison is copied: generous, since
 * the spare worker that makes its copy loads the transform from source (tsx) on a machine
 * that may be loaded; the compiled relay starts one much faster.
 */
const OTHER_MAIL_MS = 15_000;

const accounts = [
  { name: "marketing", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@marketing.test"] },
  { name: "billing", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@billing.test"] },
];

/** A message whose copy takes seconds of CPU on any machine: `parts` HTML parts of ~3.4 MB of links. */
function slowMessage(parts: number): Buffer {
  const link = '<a href="https://shop.example/p?item=1">item</a>\n';
  const html = link.repeat(Math.floor(3_400_000 / link.length));
  const chunks = [
    "From: news@marketing.test\r\nTo: many@isp.test\r\nSubject: poison\r\nMIME-Version: 1.0\r\n" +
      'Content-Type: multipart/mixed; boundary="b"\r\n\r\n',
  ];
  for (let i = 0; i < parts; i++)
    chunks.push(
      `--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${html}\r\n`,
    );
  chunks.push("--b--\r\n");
  return Buffer.from(chunks.join(""));
}

async function send(relay: RelayProcess, from: string, to: string, raw: Buffer | string): Promise<string> {
  const transport = createTransport({
    host: "127.0.0.1",
    port: relay.smtpPort,
    secure: false,
    ignoreTLS: true,
  });
  try {
    const info = await transport.sendMail({ envelope: { from, to: [to] }, raw });
    return (info.response as string).split(" ").pop() as string;
  } finally {
    transport.close();
  }
}

const ordinary = (n: number) =>
  `From: invoices@billing.test\r\nTo: customer@isp.test\r\nSubject: invoice ${n}\r\n\r\nYour invoice.\r\n`;

async function api(relay: RelayProcess, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${relay.apiPort}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${API_TOKEN}` },
    signal: AbortSignal.timeout(10_000),
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Quarantined {
  id: string;
  account: string;
  reason: string;
  detail: string;
  at: number;
  recipients: string[];
}

async function quarantined(relay: RelayProcess): Promise<Quarantined[]> {
  const response = await api(relay, "/v1/admin/quarantine");
  expect(response.status).toBe(200);
  return ((await response.json()) as { items: Quarantined[] }).items;
}

/** Is `id` being copied now, by the in-flight journal (relay/spool/in-flight.ts)? */
async function inFlight(dataDir: string, id: string): Promise<boolean> {
  const text = await readFile(join(dataDir, "spool", "in-flight.log"), "utf8").catch(() => "");
  const lines = text.split("\n").filter((line) => line === `+${id}` || line === `-${id}`);
  return lines.at(-1) === `+${id}`;
}

/** /healthz answers, and fast, while the poison is being copied. */
async function healthzAnswers(relay: RelayProcess): Promise<void> {
  const started = Date.now();
  const response = await fetch(`http://127.0.0.1:${relay.apiPort}/healthz`, {
    signal: AbortSignal.timeout(5000),
  });
  expect(response.status).toBe(200);
  expect(Date.now() - started).toBeLessThan(5000);
}

function notices(sink: SmtpPeer, to: string) {
  return sink.received.filter((m) => m.from === "" && m.to.includes(to));
}

async function startSink(): Promise<SmtpPeer> {
  const sink = await startSmtpPeer();
  onTestFinished(() => sink.stop());
  return sink;
}

function relayConfig(sink: SmtpPeer, copies: Record<string, number>) {
  return {
    apiToken: API_TOKEN,
    hostname: "relay.test",
    accounts,
    copies,
    routes: { default: { senders: [{ name: "sink", host: "127.0.0.1", port: sink.port, tls: "none" }] } },
  };
}

describe("a poison message", () => {
  it("is cut off at its copy's deadline and quarantined; other mail and /healthz carry on", async () => {
    const dir = await tempDir("relayfleet-poison-");
    const sink = await startSink();
    const relay = await startRelayProcess(
      dir,
      relayConfig(sink, { timeoutSeconds: 3, secondsPerMiB: 0, spareAfterSeconds: 0.5 }),
    );
    onTestFinished(async (context) => {
      if (context.task.result?.state === "fail") console.log(relay.output());
      await relay.kill9();
    });
    const poisonId = await send(relay, "news@marketing.test", "many@isp.test", slowMessage(20));
    const sentAt = Date.now();
    await send(relay, "invoices@billing.test", "customer@isp.test", ordinary(1));
    await healthzAnswers(relay);
    const [invoice] = await sink.waitForMessages(1, OTHER_MAIL_MS);
    expect(invoice?.to).toEqual(["customer@isp.test"]);
    expect(Date.now() - sentAt).toBeLessThan(OTHER_MAIL_MS);

    const [record] = await until(
      "the poison quarantined",
      async () => {
        const items = await quarantined(relay);
        return items.length > 0 ? items : undefined;
      },
      60_000,
    );
    expect(record).toMatchObject({
      id: poisonId,
      account: "marketing",
      reason: "copy_deadline",
      recipients: ["many@isp.test"],
    });
    expect(record?.detail).toMatch(/deadline \(3\.0 s\)/);
    const spool = join(dir, "data", "spool");
    expect((await readdir(join(spool, "quarantine"))).sort()).toEqual([
      `${poisonId}.json`,
      `${poisonId}.msg`,
    ]);
    expect(JSON.parse(await readFile(join(spool, "quarantine", `${poisonId}.json`), "utf8"))).toMatchObject({
      id: poisonId,
      account: "marketing",
      reason: "copy_deadline",
    });
    expect((await readdir(join(spool, "queue"))).filter((n) => n.startsWith(poisonId))).toEqual([]);

    // The sender is told; the recipient gets nothing.
    const [notice] = await until(
      "the notice to the sender",
      async () => {
        const found = notices(sink, "news@marketing.test");
        return found.length > 0 ? found : undefined;
      },
      20_000,
    );
    expect(notice?.raw.toString("latin1")).toMatch(/Subject: Undelivered Mail: message held in quarantine/);
    expect(notice?.raw.toString("latin1")).toContain(poisonId);
    expect(sink.received.filter((m) => m.to.includes("many@isp.test"))).toEqual([]);

    const errors = (await (await api(relay, "/v1/accounts/marketing/errors")).json()) as {
      items: { code: string; messageId?: string; recipient?: string; notified: string[] }[];
    };
    expect(errors.items).toEqual([
      expect.objectContaining({
        code: "quarantined",
        messageId: poisonId,
        recipient: "many@isp.test",
        notified: ["news@marketing.test"],
      }),
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^relayfleet_quarantined_total\{reason="copy_deadline"\} 1$/m);

    // Released, it is tried again (and, as slow as before, quarantined again).
    expect(
      (await api(relay, "/v1/admin/quarantine/zzzzzzzzzzzzzzzzzzzzzzz/release", { method: "POST" })).status,
    ).toBe(404);
    expect((await api(relay, "/v1/admin/quarantine/..%2Fx/release", { method: "POST" })).status).toBe(400);
    const released = await api(relay, `/v1/admin/quarantine/${poisonId}/release`, { method: "POST" });
    expect(released.status).toBe(200);
    await until(
      "quarantined again",
      async () => {
        const items = await quarantined(relay);
        return items.length === 1 && (items[0]?.at ?? 0) > (record?.at ?? 0) ? items : undefined;
      },
      60_000,
    );
  }, 180_000);

  it("in flight during two kill -9s in a row is quarantined at start, not resumed; meanwhile other mail goes", async () => {
    const dir = await tempDir("relayfleet-crashloop-");
    const dataDir = join(dir, "data");
    const sink = await startSink();
    // A deadline far off: only the crashes stop this copy.
    const config = relayConfig(sink, { timeoutSeconds: 3600, secondsPerMiB: 0, spareAfterSeconds: 0.5 });
    const first = await startRelayProcess(dir, config);
    onTestFinished(() => first.kill9());
    const poisonId = await send(first, "news@marketing.test", "many@isp.test", slowMessage(25));
    await until(
      "the poison in flight",
      async () => ((await inFlight(dataDir, poisonId)) ? true : undefined),
      30_000,
    );

    // A worker is stuck on the poison: a spare makes the other account's copy.
    const sentAt = Date.now();
    await send(first, "invoices@billing.test", "customer@isp.test", ordinary(1));
    await healthzAnswers(first);
    await sink.waitForMessages(1, OTHER_MAIL_MS);
    expect(Date.now() - sentAt).toBeLessThan(OTHER_MAIL_MS);
    expect(await inFlight(dataDir, poisonId), "the poison was still being copied").toBe(true);
    await first.kill9();

    const second = await startRelayProcess(dir, config);
    onTestFinished(() => second.kill9());
    await until(
      "the poison in flight again",
      async () => ((await inFlight(dataDir, poisonId)) ? true : undefined),
      30_000,
    );
    expect(await quarantined(second)).toEqual([]);
    await second.kill9();

    const third = await startRelayProcess(dir, config);
    onTestFinished(() => third.kill9());
    const [record] = await until(
      "the poison quarantined at start",
      async () => {
        const items = await quarantined(third);
        return items.length > 0 ? items : undefined;
      },
      30_000,
    );
    expect(record).toMatchObject({
      id: poisonId,
      account: "marketing",
      reason: "crash_loop",
      detail: "quarantined: in flight during 2 crashes in a row",
    });
    expect(await inFlight(dataDir, poisonId)).toBe(false);
    await until(
      "the notice to the sender",
      async () => {
        const found = notices(sink, "news@marketing.test");
        return found.length > 0 ? found : undefined;
      },
      20_000,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${third.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^relayfleet_quarantined_total\{reason="crash_loop"\} 1$/m);
    // Mail still flows after the quarantine.
    await send(third, "invoices@billing.test", "customer@isp.test", ordinary(2));
    await sink.waitForMessages(3, 15_000);
    expect(sink.received.filter((m) => m.to.includes("many@isp.test"))).toEqual([]);
  }, 240_000);
});
