import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { describe, expect, it } from "vitest";
import { startTestIntake } from "../support/intake.js";
import { rawSmtp } from "../support/smtp-client.js";
import { tempDir } from "../support/temp-dir.js";

async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await tempDir();
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=relay.test",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

const acme = {
  name: "acme",
  credentials: [{ username: "u", password: "right-password" }],
  allowedFrom: ["*@acme.test"],
};

describe("STARTTLS and AUTH over TLS", () => {
  it("offers STARTTLS and refuses AUTH before it on a public listener, accepts it after", async () => {
    const tls = await selfSignedCertificate();
    const relay = await startTestIntake({ accounts: [acme], listen: ["0.0.0.0:0"], tls });
    const client = await rawSmtp(relay.port);
    await client.reply();
    const ehlo = await client.command("EHLO c.test");
    expect(ehlo).toContain("STARTTLS");
    expect(ehlo).not.toContain("AUTH");
    const plain = Buffer.from("\0u\0right-password").toString("base64");
    expect(await client.command(`AUTH PLAIN ${plain}`)).toBe("530 5.7.0 Must issue a STARTTLS command first");
    client.close();
    const secure = createTransport({
      host: "127.0.0.1",
      port: relay.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "u", pass: "right-password" },
    });
    const info = await secure.sendMail({
      envelope: { from: "a@acme.test", to: ["r@isp.test"] },
      raw: "From: a@acme.test\r\nSubject: s\r\n\r\nhi\r\n",
    });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(relay.accepted[0]?.envelope.transmissionType).toBe("ESMTPSA");
  });
});

describe("PROXY protocol", () => {
  const behindBalancer = { name: "office", allowedIps: ["203.0.113.0/24"], allowedFrom: ["*@office.test"] };

  it("takes the client IP from a PROXY header sent by a trusted balancer", async () => {
    const relay = await startTestIntake({
      accounts: [behindBalancer],
      intake: { proxyProtocolFrom: ["127.0.0.1"] },
    });
    const client = await rawSmtp(relay.port);
    client.send("PROXY TCP4 203.0.113.9 127.0.0.1 40000 25\r\n");
    expect(await client.reply()).toMatch(/^220 /);
    await client.command("EHLO c.test");
    expect(await client.command("MAIL FROM:<app@office.test>")).toMatch(/^250/);
    expect(await client.command("RCPT TO:<r@isp.test>")).toMatch(/^250/);
    expect(await client.command("DATA")).toMatch(/^354/);
    client.send("From: app@office.test\r\nSubject: s\r\n\r\nhi\r\n.\r\n");
    expect(await client.reply()).toMatch(/^250 /);
    expect(relay.accepted[0]?.envelope.clientIp).toBe("203.0.113.9");
    client.close();
  });

  it("never trusts a PROXY header from anyone else, so an IP allow-list cannot be spoofed", async () => {
    const relay = await startTestIntake({
      accounts: [behindBalancer],
      intake: { proxyProtocolFrom: ["127.0.0.1"] },
    });
    const client = await rawSmtp(relay.port, { localAddress: "127.0.0.2" });
    client.send("PROXY TCP4 203.0.113.9 127.0.0.1 40000 25\r\n");
    const banner = await client.reply();
    expect(banner).toMatch(/^220 /);
    expect(await client.reply()).toMatch(/^5\d\d /);
    await client.command("EHLO c.test");
    expect(await client.command("MAIL FROM:<app@office.test>")).toBe(
      "550 5.7.1 Relaying denied for [127.0.0.2] / <app@office.test>",
    );
    client.close();
  });
});
