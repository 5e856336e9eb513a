/**
 * TLS on the intake against real relay processes: STARTTLS and smtps with
 * the chain checked against an openssl test CA, the AUTH-before-TLS rule on
 * a listener that is not loopback (the machine's own non-loopback address
 * when it has one, else 0.0.0.0), certificate renewal through a
 * Kubernetes-style Secret volume, and the secrets a relay leaves on disk.
 */
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { startTestIntake } from "../support/intake.js";
import { alive, descendants } from "../support/processes.js";
import { type RelayProcess, startRelayProcess, writeRelayConfig } from "../support/relay-process.js";
import { type SecretVolume, secretVolume } from "../support/secret-volume.js";
import { type SmtpPeer, startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { createTestCa, type IssuedCertificate, type TestCa } from "../support/test-ca.js";
import { smtpLineSession } from "../support/tls-smtp.js";

/** Where a non-loopback listener binds, and the address a client here reaches it on. */
function nonLoopbackListener(): { bind: string; connect: string } {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === "IPv4" && !address.internal)
        return { bind: address.address, connect: address.address };
    }
  }
  // 0.0.0.0 is every interface: not a loopback listener, though a local client comes over lo.
  return { bind: "0.0.0.0", connect: "127.0.0.1" };
}

function fingerprintOf(issued: IssuedCertificate): string {
  return new X509Certificate(issued.pem).fingerprint256;
}

/** Spelled out: the reply is part of the contract with clients. */
const STARTTLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first";

const plainAuth = `AUTH PLAIN ${Buffer.from("\0u\0right-password").toString("base64")}`;

async function sendOne(
  session: Awaited<ReturnType<typeof smtpLineSession>>,
  subject: string,
): Promise<string> {
  expect(await session.command("MAIL FROM:<a@acme.test>")).toMatch(/^250 /);
  expect(await session.command("RCPT TO:<r@isp.test>")).toMatch(/^250 /);
  expect(await session.command("DATA")).toMatch(/^354 /);
  session.send(`From: a@acme.test\r\nTo: r@isp.test\r\nSubject: ${subject}\r\n\r\nhi\r\n.\r\n`);
  return session.reply(30_000);
}

/** A client that offers TLS 1.0/1.1 only (its own OpenSSL would not at the default level: the server must say no). */
function tls11(options: ConnectionOptions): ConnectionOptions {
  return { ...options, minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" };
}

async function metricValue(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("a relay with tls on listeners that are not loopback", () => {
  const address = nonLoopbackListener();
  let ca: TestCa;
  let volume: SecretVolume;
  let first: IssuedCertificate;
  let sink: SmtpPeer;
  let relay: RelayProcess;
  const ports = { starttls: 0, loopback: 0, smtps: 0, metrics: 0 };
  let verified: ConnectionOptions;
  let dir = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "relayfleet-tls-"));
    ca = await createTestCa({ dir: join(dir, "ca") });
    volume = await secretVolume(join(dir, "secret"));
    first = await ca.issue("relay.test", { days: 30 });
    await volume.publish({ cert: first.pem, key: await readFile(first.key) });
    verified = { ca: ca.caPem, servername: "relay.test" };
    sink = await startSmtpPeer();
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    relay = await startRelayProcess(
      dir,
      {
        hostname: "relay.test",
        listen: {
          smtp: [`${address.bind}:${ports.starttls}`, `127.0.0.1:${ports.loopback}`],
          smtps: [`${address.bind}:${ports.smtps}`],
          api: `127.0.0.1:${await freePort()}`,
          tracking: `127.0.0.1:${await freePort()}`,
          metrics: `127.0.0.1:${ports.metrics}`,
        },
        tls: { cert: volume.cert, key: volume.key },
        intake: { minFreeBytes: 0 },
        accounts: [
          {
            name: "acme",
            credentials: [{ username: "u", password: "right-password" }],
            allowedFrom: ["*@acme.test"],
          },
        ],
        routes: {
          default: { policy: "failover", senders: [{ name: "sink", host: "127.0.0.1", port: sink.port }] },
        },
      },
      { ready: { host: address.connect, port: ports.starttls } },
    );
  }, 120_000);

  afterAll(async () => {
    await relay?.stop();
    await sink?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses AUTH before STARTTLS with 530, then verifies against the CA (SNI) and takes AUTH and mail", async () => {
    const session = await smtpLineSession(ports.starttls, { host: address.connect });
    try {
      expect(await session.reply()).toMatch(/^220 /);
      const before = await session.command("EHLO client.test");
      expect(before).toContain("STARTTLS");
      expect(before).not.toContain("AUTH");
      expect(await session.command(plainAuth)).toBe(STARTTLS_FIRST);
      const secure = await session.startTls(verified);
      expect(secure.authorized).toBe(true);
      expect(secure.getProtocol()).toMatch(/^TLSv1\.[23]$/);
      expect(session.peerCertificate()?.fingerprint256).toBe(fingerprintOf(first));
      expect(await session.command("EHLO client.test")).toContain("AUTH PLAIN LOGIN");
      expect(await session.command(plainAuth)).toMatch(/^235 /);
      expect(await sendOne(session, "starttls")).toMatch(/^250 2\.0\.0 Ok: queued as /);
    } finally {
      session.close();
    }
    const [message] = await sink.waitForMessages(1, 60_000);
    expect(message?.raw.toString()).toContain("Subject: starttls");
    expect(await metricValue(ports.metrics, 'relayfleet_smtp_rejections_total{reason="tls_required"}')).toBe(
      1,
    );
  });

  it("fails the handshake for a client that does not trust the CA (the chain is really checked)", async () => {
    const session = await smtpLineSession(ports.starttls, { host: address.connect });
    try {
      await session.reply();
      await session.command("EHLO client.test");
      await expect(session.startTls({ servername: "relay.test" })).rejects.toThrow(/certificate/);
    } finally {
      session.close();
    }
  });

  it("speaks TLS from the first byte on smtps and takes AUTH at once", async () => {
    const session = await smtpLineSession(ports.smtps, { host: address.connect, implicitTls: verified });
    try {
      expect(await session.reply()).toMatch(/^220 /);
      expect(session.peerCertificate()?.fingerprint256).toBe(fingerprintOf(first));
      const ehlo = await session.command("EHLO client.test");
      expect(ehlo).toContain("AUTH PLAIN LOGIN");
      expect(ehlo).not.toContain("STARTTLS");
      expect(await session.command(plainAuth)).toMatch(/^235 /);
      expect(await sendOne(session, "smtps")).toMatch(/^250 2\.0\.0 Ok: queued as /);
    } finally {
      session.close();
    }
    await until(
      async () => (sink.received.some((m) => m.raw.toString().includes("Subject: smtps")) ? true : undefined),
      "the smtps message at the sink",
      60_000,
    );
  });

  it("refuses TLS 1.1 on STARTTLS and smtps with a protocol-version alert, and speaks TLS 1.2", async () => {
    const old = tls11(verified);
    const starttls = await smtpLineSession(ports.starttls, { host: address.connect });
    try {
      await starttls.reply();
      await starttls.command("EHLO client.test");
      await expect(starttls.startTls(old)).rejects.toMatchObject({
        code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
      });
    } finally {
      starttls.close();
    }
    await expect(
      smtpLineSession(ports.smtps, { host: address.connect, implicitTls: old }),
    ).rejects.toMatchObject({
      code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
    });
    const modern = await smtpLineSession(ports.smtps, {
      host: address.connect,
      implicitTls: { ...verified, maxVersion: "TLSv1.2" },
    });
    try {
      expect(await modern.reply()).toMatch(/^220 /);
    } finally {
      modern.close();
    }
  });

  it("keeps offering AUTH in the clear on its loopback listener, as before", async () => {
    const session = await smtpLineSession(ports.loopback);
    try {
      await session.reply();
      expect(await session.command("EHLO client.test")).toContain("AUTH PLAIN LOGIN");
      expect(await session.command(plainAuth)).toMatch(/^235 /);
    } finally {
      session.close();
    }
  });

  it("serves a renewed certificate to new sessions within seconds, keeps open sessions, and keeps the old one on a bad renewal", async () => {
    const fingerprintSeen = async (port: number, implicit: boolean): Promise<string | undefined> => {
      const session = await smtpLineSession(port, {
        host: address.connect,
        ...(implicit ? { implicitTls: verified } : {}),
      });
      try {
        await session.reply();
        if (!implicit) {
          await session.command("EHLO client.test");
          await session.startTls(verified);
        }
        return session.peerCertificate()?.fingerprint256;
      } finally {
        session.close();
      }
    };
    // A session opened on the old certificate, authenticated, left open across the renewal.
    const open = await smtpLineSession(ports.starttls, { host: address.connect });
    await open.reply();
    await open.command("EHLO client.test");
    await open.startTls(verified);
    await open.command("EHLO client.test");
    expect(await open.command(plainAuth)).toMatch(/^235 /);

    const second = await ca.issue("relay.test", { days: 60 });
    await volume.publish({ cert: second.pem, key: await readFile(second.key) });
    const renewed = fingerprintOf(second);
    await until(
      async () => ((await fingerprintSeen(ports.starttls, false)) === renewed ? true : undefined),
      "the renewed certificate on STARTTLS",
    );
    expect(await fingerprintSeen(ports.smtps, true)).toBe(renewed);
    // The rebuilt context keeps the TLS 1.2 floor.
    await expect(
      smtpLineSession(ports.smtps, { host: address.connect, implicitTls: tls11(verified) }),
    ).rejects.toMatchObject({ code: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" });
    expect(await metricValue(ports.metrics, "relayfleet_tls_reloads_total")).toBe(1);
    expect(
      await metricValue(ports.metrics, `relayfleet_tls_certificate_expiry_seconds{file="${volume.cert}"}`),
    ).toBe(Math.floor(new Date(new X509Certificate(second.pem).validTo).getTime() / 1000));
    // The session from before the renewal still sends.
    expect(await sendOne(open, "across the renewal")).toMatch(/^250 2\.0\.0 Ok: queued as /);
    open.close();

    // A bad renewal: the key of another certificate. The renewed one stays; the failure is counted.
    const firstKey = await readFile(first.key, "utf8");
    await volume.publish({ cert: second.pem, key: firstKey });
    await until(
      async () =>
        (await metricValue(ports.metrics, "relayfleet_tls_reload_failures_total")) === 1 ? true : undefined,
      "the refused renewal in the metric",
    );
    expect(await fingerprintSeen(ports.starttls, false)).toBe(renewed);
    // Garbage: refused too.
    await volume.publish({ cert: "garbage", key: "more garbage" });
    await until(
      async () =>
        (await metricValue(ports.metrics, "relayfleet_tls_reload_failures_total")) === 2 ? true : undefined,
      "the second refused renewal in the metric",
    );
    expect(await fingerprintSeen(ports.smtps, true)).toBe(renewed);
    expect(await metricValue(ports.metrics, "relayfleet_tls_reloads_total")).toBe(1);
    const output = relay.output();
    expect(output).toContain("TLS certificate renewal refused");
    expect(output).toContain(
      `tls.key ${volume.key}: the key does not match the certificate in ${volume.cert}`,
    );
    expect(output).toContain(`tls.cert ${volume.cert}: no PEM certificate in the file`);
    const keyBody = firstKey.split("\n")[1] as string;
    expect(output).not.toContain(keyBody);
  }, 180_000);
});

describe("a listener that is not loopback, without tls", () => {
  const address = nonLoopbackListener();

  it("offers neither AUTH nor STARTTLS, answers AUTH with 530, and still relays for allowed IPs", async () => {
    const relay = await startTestIntake({
      listen: [`${address.bind}:0`],
      accounts: [
        {
          name: "acme",
          credentials: [{ username: "u", password: "right-password" }],
          allowedFrom: ["*@acme.test"],
        },
        { name: "office", allowedIps: [address.connect], allowedFrom: ["*@office.test"] },
      ],
    });
    const session = await smtpLineSession(relay.port, { host: address.connect });
    try {
      await session.reply();
      const ehlo = await session.command("EHLO client.test");
      expect(ehlo).not.toContain("AUTH");
      expect(ehlo).not.toContain("STARTTLS");
      expect(await session.command(plainAuth)).toBe(STARTTLS_FIRST);
      expect(await session.command("AUTH LOGIN")).toBe(STARTTLS_FIRST);
      expect(await session.command("MAIL FROM:<app@office.test>")).toMatch(/^250 /);
      expect(await session.command("RCPT TO:<r@isp.test>")).toMatch(/^250 /);
      expect(await session.command("DATA")).toMatch(/^354 /);
      session.send("From: app@office.test\r\nSubject: s\r\n\r\nhi\r\n.\r\n");
      expect(await session.reply()).toMatch(/^250 /);
    } finally {
      session.close();
    }
    expect(relay.accepted[0]?.envelope.account).toBe("office");
  });

  it("takes AUTH in the clear with intake.insecureAuth, the explicit escape hatch", async () => {
    const relay = await startTestIntake({
      listen: [`${address.bind}:0`],
      intake: { insecureAuth: true },
      accounts: [
        {
          name: "acme",
          credentials: [{ username: "u", password: "right-password" }],
          allowedFrom: ["*@acme.test"],
        },
      ],
    });
    const session = await smtpLineSession(relay.port, { host: address.connect });
    try {
      await session.reply();
      expect(await session.command("EHLO client.test")).toContain("AUTH PLAIN LOGIN");
      expect(await session.command(plainAuth)).toMatch(/^235 /);
    } finally {
      session.close();
    }
  });
});

describe("STARTTLS after an AUTH in the clear", () => {
  it("forgets the plaintext AUTH (RFC 3207 4.2): MAIL needs a new AUTH over TLS", async () => {
    const ca = await createTestCa();
    const issued = await ca.issue("relay.test");
    const relay = await startTestIntake({
      listen: ["0.0.0.0:0"],
      tls: issued,
      intake: { insecureAuth: true },
      accounts: [
        {
          name: "acme",
          credentials: [{ username: "u", password: "right-password" }],
          allowedFrom: ["*@acme.test"],
        },
      ],
    });
    const session = await smtpLineSession(relay.port);
    try {
      await session.reply();
      await session.command("EHLO client.test");
      expect(await session.command(plainAuth)).toMatch(/^235 /);
      await session.startTls({ ca: ca.caPem, servername: "relay.test" });
      await session.command("EHLO client.test");
      expect(await session.command("MAIL FROM:<a@acme.test>")).toMatch(/^550 5\.7\.1 Relaying denied/);
      expect(await session.command("RSET")).toMatch(/^250 /);
      expect(await session.command(plainAuth)).toMatch(/^235 /);
      expect(await sendOne(session, "after starttls")).toMatch(/^250 2\.0\.0 Ok: queued as /);
    } finally {
      session.close();
    }
    expect(relay.accepted).toHaveLength(1);
  });
});

describe("relay start-up and the secrets it leaves", () => {
  it("stops with a clear error naming the file when the certificate is unusable", async () => {
    const dir = await tempDir();
    const ca = await createTestCa();
    const one = await ca.issue("relay.test");
    const two = await ca.issue("relay.test");
    const started = await startRelayProcess(dir, { tls: { cert: one.cert, key: two.key } }).then(
      () => new Error("the relay started"),
      (error: unknown) => error as Error,
    );
    expect(started.message).toContain("relay exited with 1");
    expect(started.message).toContain(
      `relayfleet: tls.key ${two.key}: the key does not match the certificate in ${one.cert}`,
    );
    expect(started.message).not.toContain("    at ");
    expect(started.message).not.toContain((await readFile(two.key, "utf8")).split("\n")[1]);
  }, 120_000);

  it("writes the generated token 0600 in a 0700 dataDir, names the file and prints no secret off a terminal", async () => {
    const dir = await tempDir();
    const relay = await startRelayProcess(dir, {});
    const dataDir = join(dir, "data");
    const modeOf = async (path: string) => (await stat(path)).mode & 0o777;
    let output: string;
    try {
      await until(
        async () => (relay.output().includes("relayfleet relay is up") ? true : undefined),
        "the banner",
      );
      output = relay.output();
      // While it runs: SQLite's side files (the WAL) take the database file's mode.
      const storeFiles = (await readdir(join(dataDir, "store"))).filter((name) =>
        name.startsWith("store.sqlite"),
      );
      expect(storeFiles).toContain("store.sqlite-wal");
      for (const name of storeFiles) expect(await modeOf(join(dataDir, "store", name)), name).toBe(0o600);
    } finally {
      await relay.stop();
    }
    const token = (await readFile(join(dataDir, "api-token"), "utf8")).trim();
    const demoPassword = (await readFile(join(dataDir, "demo-password"), "utf8")).trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(output).toContain(`API token: generated, in ${join(dataDir, "api-token")}`);
    expect(output).toContain(`password in ${join(dataDir, "demo-password")}`);
    expect(output).not.toContain(token);
    expect(output).not.toContain(demoPassword);
    expect(await modeOf(dataDir)).toBe(0o700);
    expect(await modeOf(join(dataDir, "store"))).toBe(0o700);
    for (const file of ["api-token", "tracking-secret", "demo-password", "store/store.sqlite"])
      expect(await modeOf(join(dataDir, file)), file).toBe(0o600);
  }, 120_000);

  it("prints the generated token on a terminal (npm start by hand)", async () => {
    const dir = await tempDir();
    const file = await writeRelayConfig(dir, {
      dataDir: join(dir, "data"),
      logLevel: "warn",
      listen: {
        smtp: [`127.0.0.1:${await freePort()}`],
        api: `127.0.0.1:${await freePort()}`,
        tracking: `127.0.0.1:${await freePort()}`,
        metrics: `127.0.0.1:${await freePort()}`,
      },
    });
    // script(1) runs the relay on a pseudo-terminal, as a shell in a terminal would.
    const command = `${process.execPath} --import tsx bin/relayfleet.ts relay --config ${file}`;
    const terminal = spawn("script", ["-qec", command, "/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, REDIS_URL: "" },
    });
    let output = "";
    terminal.stdout.on("data", (data: Buffer) => {
      output += data.toString();
    });
    const exited = once(terminal, "exit");
    try {
      await until(
        async () => (output.includes("relayfleet relay is up") ? true : undefined),
        "the banner",
        60_000,
      );
      await until(async () => (output.includes("Try: swaks") ? true : undefined), "the whole banner");
    } finally {
      for (const pid of descendants(terminal.pid as number)) if (alive(pid)) process.kill(pid, "SIGTERM");
      await exited;
    }
    const token = (await readFile(join(dir, "data", "api-token"), "utf8")).trim();
    const demoPassword = (await readFile(join(dir, "data", "demo-password"), "utf8")).trim();
    expect(output).toContain(`API token: ${token}`);
    expect(output).toContain(`password ${demoPassword}`);
  }, 120_000);
});
