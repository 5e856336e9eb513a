/**
 * Copy workers (relay/delivery/copy-pool.ts): a copy made by a worker thread is the copy the
 * main thread would make; a worker that dies loses no message (its copies are
 * made on the main thread and delivered); a spool that cannot be read is a local deferral.
 */
import { join } from "node:path";
import { dkimVerify } from "mailauth";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { CopyDeliverer, type CopyRequest } from "../../relay/delivery/copy.js";
import { CopyPool, CopyTaskError, CopyWorkerLost, slotIndex } from "../../relay/delivery/copy-pool.js";
import type { CopyTask } from "../../relay/delivery/copy-task.js";
import { MxCache } from "../../relay/delivery/mx.js";
import { TransportPool } from "../../relay/delivery/transport.js";
import { silentLogger } from "../../relay/log/logger.js";
import { copyWorkerCount } from "../../relay/main.js";
import { routeTableSchema } from "../../relay/routes/schema.js";
import type { SpooledEnvelope } from "../../relay/spool/envelope.js";
import { Spool, type SpoolEntry } from "../../relay/spool/spool.js";
import { transformForRecipient } from "../../relay/transform/index.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { contextFor, KEYRING, rsaKey, runCopy, TRACKING_BASE, testAccount } from "../transform/support.js";
import { peerRoute, startRig } from "./harness.js";

const CRASHING_WORKER = new URL("./fixtures/crashing-copy-worker.mjs", import.meta.url);
const SIGN_TIME = Date.UTC(2026, 0, 2, 3, 4, 5);
const rsa = rsaKey("acme.com");
const account = testAccount({ dkim: [rsa.key] });
const resolver = async (name: string, type: string) => {
  if (type !== "TXT" || name !== "rsa1._domainkey.acme.com")
    throw Object.assign(new Error(`no ${type} for ${name}`), { code: "ENOTFOUND" });
  return [[rsa.dnsTxt]];
};

/**
 * A copy with what differs between two copies of the same message taken out: the generated
 * alternative's random boundary, and so the DKIM-Signature field (its body hash covers it).
 */
function comparable(copy: Buffer): string {
  return copy
    .toString("latin1")
    .replace(/^DKIM-Signature: [^\r]*(\r\n[ \t][^\r]*)*\r\n/, "")
    .replace(/_relayfleet_[0-9a-f]{24}/g, "_relayfleet_BOUNDARY");
}

async function expectSigned(copy: Buffer): Promise<void> {
  const result = await dkimVerify(copy, { resolver });
  expect(result.results.map((r) => r.status.result)).toEqual(["pass"]);
}

/** Quoted-printable's soft line breaks out, so URLs can be looked for. */
const unfolded = (copy: Buffer) => copy.toString("latin1").replace(/=\r\n/g, "");

const pools: CopyPool[] = [];
function pool(options: ConstructorParameters<typeof CopyPool>[0]): CopyPool {
  const made = new CopyPool(options);
  pools.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function html(extraHeaders = ""): Buffer {
  return Buffer.from(
    "From: News <news@acme.com>\r\nTo: <rcpt@example.net>\r\nSubject: Results\r\n" +
      `Message-ID: <m1@acme.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n${extraHeaders}\r\n` +
      '<html><body><p>Hello ***uniqueid***</p><a href="https://results.example/r/1">Splits</a></body></html>\r\n',
  );
}

async function spooled(raw: Buffer, to = ["rcpt@example.net"]): Promise<{ spool: Spool; entry: SpoolEntry }> {
  const { spool } = await Spool.open({ dir: join(await tempDir(), "spool"), logger: silentLogger() });
  const envelope: SpooledEnvelope = {
    v: 1,
    id: `m${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
    account: "acme",
    from: "news@acme.com",
    to,
    clientIp: "192.0.2.10",
    heloName: "client.test",
    receivedAt: Date.now(),
    listener: "127.0.0.1:2525",
    transmissionType: "ESMTPA",
    refused: [],
  };
  const writer = await spool.create(envelope);
  writer.stream.write(raw);
  return { spool, entry: await writer.commit() };
}

function taskFor(entry: SpoolEntry, extra: Partial<CopyTask> = {}): CopyTask {
  return {
    path: entry.path,
    bodyOffset: entry.bodyOffset,
    size: entry.size,
    messageId: entry.id,
    recipient: "rcpt@example.net",
    envelopeFrom: "news@acme.com",
    mode: "full",
    account,
    trackingBaseUrl: TRACKING_BASE,
    tokenKeys: KEYRING,
    signTime: SIGN_TIME,
    ...extra,
  };
}

describe("copy workers", () => {
  it("make the copy the main thread makes (but for the random MIME boundary), DKIM-signed, in both modes", async () => {
    const raw = html();
    const { entry } = await spooled(raw);
    const workers = pool({ size: 2 });
    for (const mode of ["full", "passthrough"] as const) {
      const fromWorker = await workers.make(taskFor(entry, { mode }));
      const { output } = await runCopy(
        raw,
        contextFor(account, { mode, messageId: entry.id, signTime: new Date(SIGN_TIME) }),
      );
      expect(comparable(fromWorker)).toEqual(comparable(output));
      expect(comparable(fromWorker)).not.toEqual(fromWorker.toString("latin1"));
      await expectSigned(fromWorker);
    }
  });

  it("read X-Relay-Track from the message when the task does not carry it", async () => {
    const raw = html("X-Relay-Track: opens=off\r\n");
    const { entry } = await spooled(raw);
    const fromWorker = await pool({ size: 1 }).make(taskFor(entry));
    const { output } = await runCopy(
      raw,
      contextFor(account, {
        messageId: entry.id,
        signTime: new Date(SIGN_TIME),
        overrides: { opens: false },
      }),
    );
    expect(comparable(fromWorker)).toEqual(comparable(output));
    expect(unfolded(fromWorker)).not.toContain(`${TRACKING_BASE}/o/`);
    expect(unfolded(fromWorker)).toContain(`${TRACKING_BASE}/c/`);
  });

  it("send every copy of a message to the same worker", () => {
    const slots = new Set(Array.from({ length: 20 }, () => slotIndex("0abc123def", 3)));
    expect(slots.size).toBe(1);
    const spread = new Set(Array.from({ length: 50 }, (_, i) => slotIndex(`message-${i}`, 3)));
    expect(spread).toEqual(new Set([0, 1, 2]));
  });

  it("report a spool file that cannot be read with its errno, as the streaming path does", async () => {
    const { entry } = await spooled(html());
    const failure = await pool({ size: 1 })
      .make(taskFor(entry, { path: `${entry.path}.gone` }))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CopyTaskError);
    expect(failure).toMatchObject({ code: "ENOENT", syscall: "open" });
  });

  it("reject the copies of a worker that died with CopyWorkerLost, and start a fresh one", async () => {
    const { entry } = await spooled(html());
    const workers = pool({ size: 1, script: CRASHING_WORKER });
    expect((await workers.make(taskFor(entry, { recipient: "a@example.net" }))).toString()).toBe(
      "copy for a@example.net\r\n",
    );
    const lost = await Promise.allSettled([
      workers.make(taskFor(entry, { recipient: "b@example.net" })),
      workers.make(taskFor(entry, { recipient: "crash@example.net" })),
    ]);
    // b was queued behind the crash on the same worker, or answered before it: never left hanging.
    for (const result of lost)
      if (result.status === "rejected") expect(result.reason).toBeInstanceOf(CopyWorkerLost);
    expect(lost[1]?.status).toBe("rejected");
    expect(workers.lost).toBe(1);
    expect((await workers.make(taskFor(entry, { recipient: "c@example.net" }))).toString()).toBe(
      "copy for c@example.net\r\n",
    );
  });
});

describe("delivery with copy workers", () => {
  async function deliverer(workers: CopyPool, spool: Spool) {
    const transports = new TransportPool({ hostname: "relay.test" });
    const copies = new CopyDeliverer({
      spool,
      transports,
      mx: new MxCache(async () => []),
      hostname: "relay.test",
      transform: transformForRecipient,
      tracking: { baseUrl: TRACKING_BASE, keys: KEYRING },
      pool: workers,
    });
    return { copies, close: () => transports.close() };
  }

  async function request(entry: SpoolEntry, port: number, recipient: string): Promise<CopyRequest> {
    const table = routeTableSchema.parse(peerRoute(port, [{ name: "out1" }]));
    return {
      entry,
      recipient,
      domain: "example.net",
      sender: table.senders[0]!,
      blockPatterns: [],
      account,
      mode: "full",
    };
  }

  it("a worker that dies loses nothing: the copy is made on the main thread and delivered", async () => {
    const isp = await startSmtpPeer();
    const raw = html("X-Relay-Track: clicks=off\r\n");
    const { spool, entry } = await spooled(raw, ["crash@example.net"]);
    const workers = pool({ size: 1, script: CRASHING_WORKER });
    const { copies, close } = await deliverer(workers, spool);
    try {
      const outcome = await copies.deliver(await request(entry, isp.port, "crash@example.net"));
      expect(outcome.verdict.outcome).toBe("delivered");
      expect(workers.lost).toBe(1);
      const [received] = await isp.waitForMessages(1);
      const text = received ? unfolded(received.raw) : "";
      // The main thread's copy: Received, DKIM, tracking, and X-Relay-Track honoured and removed.
      expect(text).toMatch(/^Received: [\s\S]*\r\nDKIM-Signature: /);
      expect(text).toContain(`${TRACKING_BASE}/o/`);
      expect(text).not.toContain(`${TRACKING_BASE}/c/`);
      expect(text).not.toMatch(/X-Relay-Track/i);
    } finally {
      close();
      await isp.stop();
    }
  });

  it("a worker's copy is sent with the Received header on top; an unreadable spool file defers", async () => {
    const isp = await startSmtpPeer();
    const { spool, entry } = await spooled(html());
    const workers = pool({ size: 1 });
    const { copies, close } = await deliverer(workers, spool);
    try {
      const delivered = await copies.deliver(await request(entry, isp.port, "rcpt@example.net"));
      expect(delivered.verdict.outcome).toBe("delivered");
      const [received] = await isp.waitForMessages(1);
      expect(received?.raw.toString()).toMatch(/^Received: [^\r]*\r\n\s[\s\S]*\r\nDKIM-Signature: /);

      const gone = { ...entry, path: `${entry.path}.gone` };
      const deferred = await copies.deliver(await request(gone, isp.port, "rcpt@example.net"));
      expect(deferred.verdict.outcome).toBe("deferred");
      expect(deferred.attempt.answer).toMatch(/^4\.3\.0 local error reading the message/);
      expect(isp.received).toHaveLength(1);
    } finally {
      close();
      await isp.stop();
    }
  });
});

describe("the scheduler with copy workers", () => {
  it("delivers through the workers, X-Relay-Track honoured and removed, DKIM-signed", async () => {
    const isp = await startSmtpPeer();
    // Registered before the rig's own, so it runs after the scheduler has closed its connections.
    onTestFinished(() => isp.stop());
    const rig = await startRig({
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
      accounts: [{ name: "acme", allowedFrom: ["*"], dkim: [rsa.key] }],
      transform: transformForRecipient,
      tracking: { baseUrl: TRACKING_BASE, keys: KEYRING },
      copyWorkers: 1,
    });
    const body = '<html><body><a href="https://results.example/r/1">Splits</a></body></html>\r\n';
    const headers = "MIME-Version: 1.0\r\nContent-Type: text/html\r\nX-Relay-Track: opens=off\r\n";
    await rig.send({ from: "news@acme.com", to: ["a@isp.test", "b@isp.test"], headers, body });
    const copies = await isp.waitForMessages(2);
    for (const copy of copies) {
      const text = unfolded(copy.raw);
      expect(text).toMatch(/^Received: [\s\S]*\r\nDKIM-Signature: /);
      expect(text).toContain(`${TRACKING_BASE}/c/`);
      expect(text).not.toContain(`${TRACKING_BASE}/o/`);
      expect(text).not.toMatch(/X-Relay-Track/i);
      await expectSigned(
        Buffer.from(
          copy.raw.toString("latin1").replace(/^Received: [^\r]*\r\n(\s[^\r]*\r\n)*/, ""),
          "latin1",
        ),
      );
    }
  });
});

describe("copy worker count", () => {
  it("is one fewer than the cores (1 to 4), or RELAYFLEET_COPY_WORKERS, where 0 turns the pool off", () => {
    expect(copyWorkerCount({}, 2)).toBe(1);
    expect(copyWorkerCount({}, 1)).toBe(1);
    expect(copyWorkerCount({}, 16)).toBe(4);
    expect(copyWorkerCount({ RELAYFLEET_COPY_WORKERS: "0" }, 8)).toBe(0);
    expect(copyWorkerCount({ RELAYFLEET_COPY_WORKERS: "3" }, 2)).toBe(3);
    expect(copyWorkerCount({ RELAYFLEET_COPY_WORKERS: "lots" }, 2)).toBe(1);
  });
});
