import { execFileSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import { describe, expect, it, onTestFinished } from "vitest";
import { startTestIntake, type TestIntake } from "../support/intake.js";
import { rawSmtp } from "../support/smtp-client.js";
import { tempDir } from "../support/temp-dir.js";

const office = { name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] };

function transport(relay: TestIntake, pool = false) {
  return createTransport({
    host: relay.host,
    port: relay.port,
    secure: false,
    ignoreTLS: true,
    pool,
    maxConnections: 50,
  });
}

function message(to: string[], body = "Hi") {
  return {
    envelope: { from: "app@office.test", to },
    raw: `From: app@office.test\r\nTo: ${to[0]}\r\nSubject: s\r\n\r\n${body}\r\n`,
  };
}

describe("suppression and account limits", () => {
  it("refuses a suppressed recipient at RCPT when the account says reject, naming the list", async () => {
    const relay = await startTestIntake({ accounts: [{ ...office, suppression: "reject" }] });
    await relay.store.addSuppression("office", {
      address: "Gone@ISP.test",
      list: "bounces",
      reason: "550 user unknown",
      at: 1,
    });
    const error = await transport(relay)
      .sendMail(message(["gone@isp.test"]))
      .catch((e: unknown) => e);
    expect((error as { response: string }).response).toBe(
      "550 5.1.1 Recipient <gone@isp.test> is on the bounces list of account office",
    );
  });

  it("accepts with notify (the default) and marks the recipient suppressed for the error path", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    await relay.store.addSuppression("office", {
      address: "left@isp.test",
      list: "unsubscribes",
      reason: "clicked",
      at: 1,
    });
    const info = await transport(relay).sendMail(message(["left@isp.test", "stays@isp.test"]));
    const id = info.response.split(" ").pop() as string;
    expect(relay.accepted[0]?.envelope.refused).toEqual([
      {
        address: "left@isp.test",
        code: "suppressed",
        reason: "Recipient <left@isp.test> is on the unsubscribes list of account office",
      },
    ]);
    const logged = await relay.store.getMessage(id);
    expect(logged?.recipients.find((r) => r.address === "left@isp.test")?.status).toBe("suppressed");
    expect(logged?.recipients.find((r) => r.address === "stays@isp.test")?.status).toBe("queued");
  });

  it("honours bypassUnsubscribes", async () => {
    const relay = await startTestIntake({
      accounts: [{ ...office, suppression: "reject", bypassUnsubscribes: true }],
    });
    await relay.store.addSuppression("office", {
      address: "left@isp.test",
      list: "unsubscribes",
      reason: "x",
      at: 1,
    });
    await transport(relay).sendMail(message(["left@isp.test"]));
    expect(relay.accepted[0]?.envelope.refused).toEqual([]);
  });

  it("answers 452 4.5.3 past the hourly limit when the account says reject", async () => {
    const relay = await startTestIntake({
      accounts: [{ ...office, suppression: "reject", limits: { perHour: 2 } }],
    });
    await transport(relay).sendMail(message(["a@isp.test", "b@isp.test"]));
    const error = await transport(relay)
      .sendMail(message(["c@isp.test"]))
      .catch((e: unknown) => e);
    expect((error as { response: string }).response).toMatch(
      /^452 4\.5\.3 Account office is over its sending limit/,
    );
    expect((await relay.store.getCounts("office", Date.now())).hour).toBe(2);
  });

  it("accepts past the limit with notify, refusing every copy after acceptance", async () => {
    const relay = await startTestIntake({ accounts: [{ ...office, limits: { perDay: 1 } }] });
    await transport(relay).sendMail(message(["a@isp.test"]));
    await transport(relay).sendMail(message(["b@isp.test"]));
    expect(relay.accepted[1]?.envelope.refused).toEqual([
      { address: "b@isp.test", code: "over_limit", reason: "Account office is over its day limit" },
    ]);
  });
});

describe("size, disk and group commit", () => {
  it("accepts a 30 MB attachment and refuses a message over maxMessageBytes with 552, leaving no file", async () => {
    const relay = await startTestIntake({ accounts: [office], maxMessageBytes: 45 * 1024 * 1024 });
    const attachment = Buffer.alloc(30 * 1024 * 1024, 7);
    const info = await transport(relay).sendMail({
      envelope: { from: "app@office.test", to: ["rcpt@isp.test"] },
      from: "app@office.test",
      to: "rcpt@isp.test",
      subject: "big",
      text: "see attached",
      attachments: [{ filename: "big.bin", content: attachment }],
    });
    expect(info.response).toMatch(/^250 /);
    expect(relay.accepted[0]?.size).toBeGreaterThan(40_000_000);
    const tooBig = await transport(relay)
      .sendMail({
        ...message(["rcpt@isp.test"]),
        raw: `From: app@office.test\r\n\r\n${"a".repeat(76)}\r\n`.repeat(600_000),
      })
      .catch((e: unknown) => e);
    expect((tooBig as { responseCode: number }).responseCode).toBe(552);
    expect(await relay.spool.list()).toHaveLength(1);
    expect((await readdir(relay.spool.queueDir)).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  }, 60_000);

  it("answers 452 4.3.1 when the spool disk is full, leaves nothing behind, and serves again once space returns", async (context) => {
    if (process.getuid?.() !== 0) context.skip(); // mounting a tmpfs needs root (as in CI)
    const mountPoint = join(await tempDir(), "small");
    await mkdir(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint]);
    onTestFinished(() => {
      execFileSync("umount", ["-l", mountPoint]);
    });
    const relay = await startTestIntake({ accounts: [office], spoolDir: mountPoint });
    const filler = join(mountPoint, "filler");
    await writeFile(filler, Buffer.alloc(1024 * 1024));
    const error = await transport(relay)
      .sendMail(message(["a@isp.test"], "x".repeat(70).concat("\r\n").repeat(20_000)))
      .catch((e: unknown) => e);
    expect((error as { response: string }).response).toMatch(/^452 4\.3\.1 /);
    expect(await readdir(relay.spool.queueDir)).toEqual([]);
    execFileSync("rm", [filler]);
    const info = await transport(relay).sendMail(
      message(["a@isp.test"], "x".repeat(70).concat("\r\n").repeat(20_000)),
    );
    expect(info.response).toMatch(/^250 /);
  });

  it("makes messages that finish together durable in one group commit", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const pooled = transport(relay, true);
    await Promise.all(Array.from({ length: 100 }, (_, i) => pooled.sendMail(message([`r${i}@isp.test`]))));
    pooled.close();
    expect(relay.accepted).toHaveLength(100);
    expect(relay.batches.reduce((a, b) => a + b, 0)).toBe(100);
    expect(Math.max(...relay.batches)).toBeGreaterThan(1);
  });

  it("drains: no new mail (421), the DATA in progress still gets its 250", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const busy = await rawSmtp(relay.port);
    await busy.reply();
    await busy.command("EHLO c.test");
    await busy.command("MAIL FROM:<app@office.test>");
    await busy.command("RCPT TO:<r@isp.test>");
    await busy.command("DATA");
    busy.send("From: app@office.test\r\nSubject: s\r\n\r\npart one\r\n");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const drained = relay.intake.drain();
    const late = await rawSmtp(relay.port);
    expect(await late.reply()).toMatch(/^421 4\.3\.2 /);
    busy.send("part two\r\n.\r\n");
    expect(await busy.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await drained;
    expect(relay.intake.draining).toBe(true);
    expect(relay.accepted).toHaveLength(1);
  });
});
