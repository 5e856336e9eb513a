/**
 * Copy workers (relay/copy/pool.ts): a copy made by a worker thread is the copy the
 * main thread would make, in memory or (big messages) streamed to a file; a copy past its
 * deadline loses its worker and the message is to be quarantined, as is one that kills its
 * worker twice; a stuck worker gets a spare so other copies go on; a spool that cannot be read
 * is a local deferral.
 */
import { spawn } from "node:child_process";
import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { dkimVerify } from "mailauth";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { CopyMaker, NO_INSTRUCTIONS, readRelayInstructions } from "../../relay/copy/index.js";
import {
  CopyCancelled,
  CopyDeadlineExceeded,
  CopyPool,
  CopyPoolClosed,
  CopyTaskError,
  CopyWorkerLost,
  type MadeCopy,
} from "../../relay/copy/pool.js";
import type { CopyTask } from "../../relay/copy/task.js";
import { CopyDeliverer, type CopyRequest } from "../../relay/delivery/deliverer.js";
import { MxCache } from "../../relay/delivery/mx.js";
import { TransportPool } from "../../relay/delivery/transport.js";
import { silentLogger } from "../../relay/log/logger.js";
import { copyWorkerCount } from "../../relay/pipeline.js";
import { routeTableSchema } from "../../relay/routes/schema.js";
import type { SpooledEnvelope } from "../../relay/spool/envelope.js";
import { Spool, type SpoolEntry } from "../../relay/spool/spool.js";
import { transformForRecipient } from "../../relay/transform/index.js";
import { peerRoute, startRig } from "../delivery/harness.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { contextFor, KEYRING, rsaKey, runCopy, TRACKING_BASE, testAccount } from "../transform/support.js";

const CRASHING_WORKER = new URL("./fixtures/crashing-copy-worker.mjs", import.meta.url);
const HANGING_WORKER = new URL("./fixtures/hanging-copy-worker.mjs", import.meta.url);
const BROKEN_WORKER = new URL("./fixtures/broken-copy-worker.mjs", import.meta.url);
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

/** A copy's bytes, however the pool handed it over. */
async function bytesOf(made: MadeCopy): Promise<Buffer> {
  return made.kind === "bytes" ? made.bytes : readFile(made.path);
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
    instructions: NO_INSTRUCTIONS,
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
      const fromWorker = await bytesOf(await workers.make(taskFor(entry, { mode })));
      const { output } = await runCopy(
        raw,
        contextFor(account, { mode, messageId: entry.id, signTime: new Date(SIGN_TIME) }),
      );
      expect(comparable(fromWorker)).toEqual(comparable(output));
      expect(comparable(fromWorker)).not.toEqual(fromWorker.toString("latin1"));
      await expectSigned(fromWorker);
    }
  });

  it("honour the X-Relay-Track read from the message at admission, handed along with the task", async () => {
    const raw = html("X-Relay-Track: opens=off\r\n");
    const { entry } = await spooled(raw);
    const instructions = await readRelayInstructions(entry);
    expect(instructions).toEqual({ track: { opens: false } });
    const fromWorker = await bytesOf(await pool({ size: 1 }).make(taskFor(entry, { instructions })));
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

  it("stream the copy of a big message to a file, the same copy as in memory, and leave nothing else behind", async () => {
    const links = Array.from({ length: 300 }, (_, i) => `<a href="https://results.example/r/${i}">r${i}</a>`);
    const raw = Buffer.from(
      html()
        .toString("latin1")
        .replace("</body>", `${links.join("\r\n")}\r\n</body>`),
      "latin1",
    );
    const { entry } = await spooled(raw);
    const copiesDir = await tempDir();
    const streaming = pool({ size: 1, maxInlineBytes: 1024, copiesDir });
    const inMemory = pool({ size: 1 });
    const toFile = await streaming.make(taskFor(entry));
    expect(toFile.kind).toBe("file");
    if (toFile.kind !== "file") return;
    expect(toFile.path.startsWith(copiesDir)).toBe(true);
    const fileBytes = await readFile(toFile.path);
    expect(toFile.size).toBe(fileBytes.length);
    const memory = await inMemory.make(taskFor(entry));
    expect(memory.kind).toBe("bytes");
    expect(comparable(fileBytes)).toEqual(comparable(await bytesOf(memory)));
    expect(unfolded(fileBytes)).toContain(`${TRACKING_BASE}/c/`);
    await expectSigned(fileBytes);
    expect(await readdir(copiesDir)).toEqual([toFile.path.slice(copiesDir.length + 1)]);
  });

  it("cut a big copy off at its deadline without leaving its file or a descriptor open", async () => {
    const link = '<a href="https://shop.example/p?item=1">item</a>\r\n';
    const raw = Buffer.from(
      html()
        .toString("latin1")
        .replace("</body>", `${link.repeat(60_000)}</body>`),
      "latin1",
    );
    const { entry } = await spooled(raw);
    const copiesDir = await tempDir();
    const workers = pool({ size: 1, copiesDir, deadline: { seconds: 0.05, secondsPerMiB: 0 } });
    const failure = await workers.make(taskFor(entry)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CopyDeadlineExceeded);
    const openHere = async () => {
      const targets = await Promise.all(
        (await readdir("/proc/self/fd")).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")),
      );
      return targets.filter((target) => target === entry.path || target.startsWith(copiesDir));
    };
    // The descriptors are closed once the worker has stopped, the partial copy removed.
    for (let i = 0; i < 100 && ((await openHere()).length > 0 || (await readdir(copiesDir)).length > 0); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await openHere()).toEqual([]);
    expect(await readdir(copiesDir)).toEqual([]);
  });

  it("terminate a worker whose copy passes its deadline, and make the next copy on a fresh one", async () => {
    const { entry } = await spooled(html());
    const workers = pool({ size: 1, script: HANGING_WORKER, deadline: { seconds: 0.5, secondsPerMiB: 0 } });
    const hung = await workers
      .make(taskFor(entry, { recipient: "hang@example.net" }))
      .catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(CopyDeadlineExceeded);
    expect((hung as CopyDeadlineExceeded).deadlineMs).toBe(500);
    expect(workers.timedOut).toBe(1);
    expect(workers.lost).toBe(0);
    const next = await workers.make(taskFor(entry, { recipient: "b@example.net" }));
    expect((await bytesOf(next)).toString()).toBe("copy for b@example.net\r\n");
  });

  it("start a spare worker while one is stuck, so the copies queued behind it are made; cancel frees it", async () => {
    const { entry: poison } = await spooled(html());
    const { entry: ordinary } = await spooled(html());
    const workers = pool({
      size: 1,
      spares: 1,
      spareAfterMs: 200,
      script: HANGING_WORKER,
      deadline: { seconds: 600, secondsPerMiB: 0 },
    });
    const hung = workers.make(taskFor(poison, { recipient: "hang@example.net" })).catch((e: unknown) => e);
    const others = await Promise.all(
      ["a", "b", "c"].map((name) => workers.make(taskFor(ordinary, { recipient: `${name}@example.net` }))),
    );
    expect(await Promise.all(others.map(async (made) => (await bytesOf(made)).toString()))).toEqual([
      "copy for a@example.net\r\n",
      "copy for b@example.net\r\n",
      "copy for c@example.net\r\n",
    ]);
    expect(workers.workers).toBe(2);
    workers.cancel(poison.id);
    expect(await hung).toBeInstanceOf(CopyCancelled);
    // The spare is retired once nothing waits; the pool keeps its size.
    await workers.make(taskFor(ordinary, { recipient: "d@example.net" }));
    expect(workers.workers).toBe(1);
    await workers.close();
    expect(await workers.make(taskFor(ordinary)).catch((e: unknown) => e)).toBeInstanceOf(CopyPoolClosed);
  });

  it("take the copies waiting in turn by account: B's copy is made within one copy per worker of A's burst", async () => {
    const { entry: burst } = await spooled(html());
    const { entry: single } = await spooled(html());
    const started: string[] = [];
    const workers = pool({ size: 1, spares: 0, onCopyStart: (id) => started.push(id) });
    const burstSize = 30;
    const aCopies = Array.from({ length: burstSize }, (_, i) =>
      workers.make(taskFor(burst, { recipient: `a${i}@example.net` })),
    );
    const bCopy = workers.make(taskFor(single, { account: testAccount({ name: "other", dkim: [rsa.key] }) }));
    await Promise.all([...aCopies, bCopy]);
    expect(started).toHaveLength(burstSize + 1);
    const aBeforeB = started.indexOf(single.id);
    console.info(`copy turns: ${JSON.stringify({ burstSize, aCopiesMadeBeforeB: aBeforeB })}`);
    // The copy under way when B's arrived, and the one whose turn it was.
    expect(aBeforeB).toBeGreaterThanOrEqual(1);
    expect(aBeforeB).toBeLessThanOrEqual(2);
  });

  it("report a spool file that cannot be read with its errno, as the streaming path does", async () => {
    const { entry } = await spooled(html());
    const failure = await pool({ size: 1 })
      .make(taskFor(entry, { path: `${entry.path}.gone` }))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CopyTaskError);
    expect(failure).toMatchObject({ code: "ENOENT", syscall: "open" });
  });

  it("reject the copy of a worker that died with CopyWorkerLost, and start a fresh one", async () => {
    const { entry } = await spooled(html());
    const workers = pool({ size: 1, script: CRASHING_WORKER });
    const text = async (recipient: string) =>
      (await bytesOf(await workers.make(taskFor(entry, { recipient })))).toString();
    expect(await text("a@example.net")).toBe("copy for a@example.net\r\n");
    const [b, crash] = await Promise.allSettled([text("b@example.net"), text("crash@example.net")]);
    // One copy at a time: b was made before the crash, which takes nothing else with it.
    expect(b).toEqual({ status: "fulfilled", value: "copy for b@example.net\r\n" });
    expect(crash.status === "rejected" && crash.reason).toBeInstanceOf(CopyWorkerLost);
    expect(workers.lost).toBe(1);
    expect(await text("c@example.net")).toBe("copy for c@example.net\r\n");
  });
});

describe("a 100 MB message through a copy worker", () => {
  it("is streamed to a file with the process's memory flat (DKIM on)", { timeout: 180_000 }, async () => {
    const probe = new URL("./pool-memory-probe.ts", import.meta.url).pathname;
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", probe, "100"], {
      cwd: process.cwd(),
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (out += chunk));
    expect(await new Promise((resolve) => child.on("close", resolve)), out).toBe(0);
    const { kind, bytes, rssGrowthMB } = JSON.parse(out) as {
      kind: string;
      bytes: number;
      rssGrowthMB: number;
    };
    expect(kind).toBe("file");
    expect(bytes).toBeGreaterThan(100 * 1024 * 1024);
    // Streamed, never held whole: the process grows by less than the message. The design
    // target (under 64 MB) is measured by the benchmark's 100 MB message (docs/testing.md).
    expect(rssGrowthMB).toBeLessThan(100);
  });
});

describe("delivery with copy workers", () => {
  async function deliverer(workers: CopyPool, spool: Spool) {
    const transports = new TransportPool({ hostname: "relay.test" });
    const copies = new CopyDeliverer({
      copies: new CopyMaker({
        spool,
        transform: transformForRecipient,
        tracking: { baseUrl: TRACKING_BASE, keys: KEYRING },
        pool: workers,
      }),
      transports,
      mx: new MxCache(async () => []),
      hostname: "relay.test",
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
      instructions: await readRelayInstructions(entry),
    };
  }

  it("a copy that kills its worker twice is to be quarantined: nothing is sent, the copy never made on this thread", async () => {
    const isp = await startSmtpPeer();
    const { spool, entry } = await spooled(html(), ["crash@example.net"]);
    const workers = pool({ size: 1, script: CRASHING_WORKER });
    const { copies, close } = await deliverer(workers, spool);
    try {
      const outcome = await copies.deliver(await request(entry, isp.port, "crash@example.net"));
      expect(outcome.quarantine?.reason).toBe("copy_crash");
      expect(outcome.quarantine?.detail).toMatch(/stopped the copy worker 2 times/);
      expect(workers.lost).toBe(2);
      expect(isp.received).toHaveLength(0);
    } finally {
      close();
      await isp.stop();
    }
  });

  it("a worker that cannot start is the relay's trouble: the copy is deferred, the message not quarantined", async () => {
    const isp = await startSmtpPeer();
    const { spool, entry } = await spooled(html());
    const workers = pool({ size: 1, script: BROKEN_WORKER });
    const { copies, close } = await deliverer(workers, spool);
    try {
      const outcome = await copies.deliver(await request(entry, isp.port, "rcpt@example.net"));
      expect(outcome.quarantine).toBeUndefined();
      expect(outcome.verdict.outcome).toBe("deferred");
      expect(outcome.attempt.answer).toMatch(/^4\.3\.0 local error: copy worker exited while starting/);
      expect(isp.received).toHaveLength(0);
    } finally {
      close();
      await isp.stop();
    }
  });

  it("a copy past its deadline is to be quarantined; a big message's copy goes out from its file, which is removed", async () => {
    const isp = await startSmtpPeer();
    const { spool, entry } = await spooled(html(), ["hang@example.net"]);
    const hanging = pool({ size: 1, script: HANGING_WORKER, deadline: { seconds: 0.3, secondsPerMiB: 0 } });
    const slow = await deliverer(hanging, spool);
    const copiesDir = await tempDir();
    const streaming = pool({ size: 1, maxInlineBytes: 100, copiesDir });
    const big = await deliverer(streaming, spool);
    try {
      const outcome = await slow.copies.deliver(await request(entry, isp.port, "hang@example.net"));
      expect(outcome.quarantine?.reason).toBe("copy_deadline");
      expect(outcome.attempt.answer).toMatch(
        /^5\.6\.0 quarantined: the copy took longer than its deadline \(0\.3 s\)/,
      );
      expect(isp.received).toHaveLength(0);

      const delivered = await big.copies.deliver(await request(entry, isp.port, "rcpt@example.net"));
      expect(delivered.verdict.outcome).toBe("delivered");
      const [received] = await isp.waitForMessages(1);
      expect(received?.raw.toString()).toMatch(/^Received: [^\r]*\r\n\s[\s\S]*\r\nDKIM-Signature: /);
      expect(await readdir(copiesDir)).toEqual([]);
    } finally {
      slow.close();
      big.close();
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
  it("is one fewer than the cores (1 to 4), or RELAYFLEET_COPY_WORKERS, never fewer than 1", () => {
    expect(copyWorkerCount({}, 2)).toBe(1);
    expect(copyWorkerCount({}, 1)).toBe(1);
    expect(copyWorkerCount({}, 16)).toBe(4);
    expect(copyWorkerCount({ RELAYFLEET_COPY_WORKERS: "0" }, 8)).toBe(1);
    expect(copyWorkerCount({ RELAYFLEET_COPY_WORKERS: "3" }, 2)).toBe(3);
    expect(copyWorkerCount({ RELAYFLEET_COPY_WORKERS: "lots" }, 2)).toBe(1);
  });
});
