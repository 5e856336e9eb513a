/**
 * The fleet as a stranger on the internet meets it (docs/relaypool.md, "TLS"):
 * a RelayPool with spec.tls (a kubernetes.io/tls Secret signed by a test CA for
 * the pool's hostname) and spec.relay (a bounce domain). A client resolves the
 * pool's name from the DNSEndpoint's A records, is refused AUTH before TLS,
 * does STARTTLS (and implicit TLS on 465) with the chain verified and SNI set,
 * authenticates and sends; the Secret is renewed in place and new sessions get
 * the new certificate with no pod replaced and an open session kept; a bounce
 * sent through the fleet to a delivered copy's VERP return path lands on the
 * account's bounce list.
 */
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { SAMPLES, sampleBytes } from "../feedback/samples.js";
import { kubeClients } from "../kube/kube-tools.js";
import { createTestCa, type TestCa } from "../support/test-ca.js";
import { smtpLineSession } from "../support/tls-smtp.js";
import { tlsSecret } from "./examples.js";
import { type Fleet, fleetExamples, startFleet } from "./fleet.js";
import { adminToken, aRecords } from "./mail.js";

type Json = Record<string, unknown>;
const PREFIX = "127.0.6";
const HOSTNAME = "smtp-marathon.example.com";
const BOUNCE_DOMAIN = "bounces.marathon.example.com";
const USERNAME = "marathon-app";
const PASSWORD = "correct horse battery staple";
const authPlain = Buffer.from(`\0${USERNAME}\0${PASSWORD}`).toString("base64");

/** The renewed Secret, as cert-manager rewrites it in place. */
async function tlsSecretYaml(issued: { cert: string; key: string }): Promise<string> {
  return stringify(tlsSecret(await readFile(issued.cert, "utf8"), await readFile(issued.key, "utf8")));
}

describe("the fleet over TLS", () => {
  let fleet: Fleet;
  let dir: string;
  let ca: TestCa;
  let kubectl: ReturnType<typeof kubeClients>["kubectl"];
  const apply = async (yaml: string, name: string) => {
    const file = join(dir, name);
    await writeFile(file, yaml);
    const result = await kubectl(["apply", "-f", file]);
    if (result.code !== 0) throw new Error(`kubectl apply ${name}: ${result.stderr}`);
  };
  const find = (apiVersion: string, kind: string, name: string) => {
    const type = fleet.server.api.types.findByKind(apiVersion, kind);
    return type ? (fleet.server.api.objects.find(type, "mail", name) as Json | undefined) : undefined;
  };
  const readyCondition = () =>
    (
      ((find("relayfleet.io/v1alpha1", "RelayPool", "marathon")?.status as Json | undefined)?.conditions ??
        []) as Json[]
    ).find((c) => c.type === "Ready");
  const verified = () => ({ ca: ca.caPem, servername: HOSTNAME });
  /** The certificate a new STARTTLS session on `relay` gets (its SHA-256 fingerprint). */
  const presented = async (relay: string) => {
    const session = await smtpLineSession(25, { host: relay });
    try {
      await session.reply();
      await session.command("EHLO client.example.org");
      await session.startTls({ ...verified(), host: relay });
      return session.peerCertificate()?.fingerprint256;
    } finally {
      session.close();
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "relayfleet-e2e-tls-"));
    ca = await createTestCa({ dir: join(dir, "ca") });
    fleet = await startFleet({ workDir: dir, addressPrefix: PREFIX, maxGraceMs: 20_000 });
    ({ kubectl } = kubeClients(fleet.kubeconfigPath, dir));
    const result = await kubectl(["apply", "-f", "crds/"]);
    if (result.code !== 0) throw new Error(result.stderr);
    const issued = await ca.issue(HOSTNAME);
    const examples = fleetExamples(fleet, {
      autoscaling: { minReplicas: 2, maxReplicas: 2, target: 1000, scaleDownStabilizationSeconds: 8 },
      drainTimeoutSeconds: 10,
      tls: { cert: await readFile(issued.cert, "utf8"), key: await readFile(issued.key, "utf8") },
      smtpPorts: [25, 465],
      relay: { bounceDomain: BOUNCE_DOMAIN, feedback: { loopAddresses: ["fbl"] } },
    });
    // The namespace, the TLS Secret, the SenderRoute and the RelayPool, in that order.
    await apply(examples, "examples.yaml");
    const deadline = Date.now() + 90_000;
    while (aRecords(fleet.server).length < 2) {
      if (Date.now() > deadline) throw new Error("pool not ready within 90 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    // An account that must authenticate: no allowedIps, so nothing relays without AUTH.
    const relay = aRecords(fleet.server)[0] as string;
    const response = await fetch(`http://${relay}:8081/v1/accounts/marathon`, {
      method: "PUT",
      headers: { authorization: `Bearer ${adminToken(fleet.server)}`, "content-type": "application/json" },
      body: JSON.stringify({
        allowedFrom: ["*@marathon.example"],
        credentials: [{ username: USERNAME, password: PASSWORD }],
        notify: { toAccountManager: false, toFrom: false },
      }),
    });
    if (!response.ok) throw new Error(`PUT account: HTTP ${response.status} ${await response.text()}`);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is Ready with TLS, and refuses AUTH before STARTTLS on every relay", async () => {
    await expect.poll(() => readyCondition()?.status, { timeout: 30_000, interval: 250 }).toBe("True");
    for (const relay of aRecords(fleet.server)) {
      const session = await smtpLineSession(25, { host: relay });
      try {
        expect(await session.reply()).toMatch(/^220 /);
        const ehlo = await session.command("EHLO client.example.org");
        expect(ehlo).toContain("STARTTLS");
        expect(ehlo, relay).not.toMatch(/AUTH/);
        expect(await session.command(`AUTH PLAIN ${authPlain}`)).toMatch(/^530 5\.7\.0 /);
        // Nor does the password relay anything in the clear by another way.
        expect(await session.command("MAIL FROM:<news@marathon.example>")).toMatch(/^250 /);
        expect(await session.command("RCPT TO:<runner@isp-a.test>")).toMatch(/^5\d\d /);
      } finally {
        session.close();
      }
    }
  });

  it("takes AUTH and mail after STARTTLS with the chain verified and SNI set, and on 465", async () => {
    const relay = aRecords(fleet.server)[0] as string;
    // A name the certificate does not carry fails verification: the check is real.
    const wrongName = await smtpLineSession(25, { host: relay });
    await wrongName.reply();
    await wrongName.command("EHLO client.example.org");
    await expect(
      wrongName.startTls({ ca: ca.caPem, servername: "elsewhere.example.com", host: relay }),
    ).rejects.toThrow(/altnames|Hostname/i);
    wrongName.close();
    // And a client that does not trust the test CA refuses the chain.
    const untrusted = await smtpLineSession(25, { host: relay });
    await untrusted.reply();
    await untrusted.command("EHLO client.example.org");
    await expect(untrusted.startTls({ servername: HOSTNAME, host: relay })).rejects.toThrow(
      /self[- ]signed|unable to (get|verify)/i,
    );
    untrusted.close();

    const session = await smtpLineSession(25, { host: relay });
    try {
      await session.reply();
      await session.command("EHLO client.example.org");
      const secure = await session.startTls({ ...verified(), host: relay });
      expect(secure.authorized).toBe(true);
      expect(secure.getProtocol()).toMatch(/^TLSv1\.[23]$/);
      expect(session.peerCertificate()?.subject.CN).toBe(HOSTNAME);
      expect(await session.command("EHLO client.example.org")).toMatch(/AUTH .*PLAIN/);
      expect(await session.command(`AUTH PLAIN ${authPlain}`)).toMatch(/^235 /);
      expect(await session.command("MAIL FROM:<news@marathon.example>")).toMatch(/^250 /);
      expect(await session.command("RCPT TO:<runner1@isp-a.test>")).toMatch(/^250 /);
      expect(await session.command("DATA")).toMatch(/^354 /);
      session.send(
        "From: news@marathon.example\r\nTo: runner1@isp-a.test\r\nSubject: your start time\r\n" +
          "Message-ID: <tls-1@marathon.example>\r\n\r\nWave 2, 10:05.\r\n.\r\n",
      );
      expect(await session.reply()).toMatch(/^250 .*queued as/);
    } finally {
      session.close();
    }

    // Implicit TLS (RFC 8314) on 465, as nodemailer's `secure: true` does it.
    const transport = createTransport({
      host: relay,
      port: 465,
      secure: true,
      auth: { user: USERNAME, pass: PASSWORD },
      tls: verified(),
    });
    const info = await transport.sendMail({
      envelope: { from: "news@marathon.example", to: ["runner2@isp-b.test"] },
      raw: "From: news@marathon.example\r\nTo: runner2@isp-b.test\r\nSubject: results\r\nMessage-ID: <tls-2@marathon.example>\r\n\r\n3:41:07.\r\n",
    });
    transport.close();
    expect(info.response).toMatch(/^250 .*queued as/);

    const ispA = fleet.peers.get("isp-a.test");
    const ispB = fleet.peers.get("isp-b.test");
    await expect
      .poll(() => ispA?.received.some((m) => m.to.includes("runner1@isp-a.test")), { timeout: 30_000 })
      .toBe(true);
    await expect
      .poll(() => ispB?.received.some((m) => m.to.includes("runner2@isp-b.test")), { timeout: 30_000 })
      .toBe(true);
  });

  it("lands a bounce to a delivered copy's VERP return path on the bounce list, through another relay", async () => {
    const ispA = fleet.peers.get("isp-a.test");
    const copy = ispA?.received.find((m) => m.to.includes("runner1@isp-a.test"));
    expect(copy, "the earlier test's copy").toBeDefined();
    // spec.relay.bounceDomain reached the relays: the copy's return path is at the bounce domain.
    const returnPath = copy?.from as string;
    expect(returnPath).toMatch(
      new RegExp(`^bounces\\+[0-9a-z]+-[a-z2-7]+@${BOUNCE_DOMAIN.replace(/\./g, "\\.")}$`),
    );
    const hard = SAMPLES.find((s) => s.kind === "hard_bounce");
    if (!hard) throw new Error("no hard-bounce sample");
    // The ISP's MTA sends the DSN to whichever relay the A records give it: here the other one.
    const records = aRecords(fleet.server);
    const other = records[records.length - 1] as string;
    const transport = createTransport({ host: other, port: 25, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: "", to: [returnPath] },
      raw: sampleBytes(hard),
    });
    transport.close();
    expect(info.response).toMatch(/feedback received \(hard_bounce\)/);
    const token = adminToken(fleet.server);
    const bounces = await fetch(`http://${records[0]}:8081/v1/accounts/marathon/suppressions/bounces`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    }).then((r) => r.json() as Promise<{ items: { address: string }[] }>);
    expect(bounces.items.map((item) => item.address)).toContain("runner1@isp-a.test");
  });

  it("serves a renewed Secret's certificate to new sessions within 90 s, no pod replaced, open sessions kept", async () => {
    const relays = aRecords(fleet.server);
    const podsBefore = fleet.kubelet
      .pods()
      .map((pod) => `${pod.name}/${pod.child?.pid}`)
      .sort();
    const first = await presented(relays[0] as string);
    // A session opened before the renewal, still open after it.
    const open = await smtpLineSession(25, { host: relays[0] as string });
    await open.reply();
    await open.command("EHLO client.example.org");
    await open.startTls({ ...verified(), host: relays[0] as string });

    const renewed = await ca.issue(HOSTNAME);
    const renewedFingerprint = new X509Certificate(renewed.pem).fingerprint256;
    expect(renewedFingerprint).not.toBe(first);
    const renewedAt = Date.now();
    await apply(await tlsSecretYaml(renewed), "tls-secret-renewed.yaml");
    for (const relay of relays)
      await expect
        .poll(() => presented(relay), { timeout: 90_000 - (Date.now() - renewedAt), interval: 1_000 })
        .toBe(renewedFingerprint);
    expect(Date.now() - renewedAt).toBeLessThan(90_000);

    expect(await open.command("NOOP")).toMatch(/^250 /);
    open.close();
    expect(
      fleet.kubelet
        .pods()
        .map((pod) => `${pod.name}/${pod.child?.pid}`)
        .sort(),
    ).toEqual(podsBefore);
    expect(aRecords(fleet.server).sort()).toEqual([...relays].sort());
  }, 120_000);
});
