import { createTransport } from "nodemailer";
import { describe, expect, it } from "vitest";
import { startTestIntake, type TestIntake } from "../support/intake.js";
import { rawSmtp } from "../support/smtp-client.js";

const acme = {
  name: "acme",
  credentials: [{ username: "acme-user", password: "s3cret-password" }],
  allowedFrom: ["*@acme.test"],
};
const office = { name: "office", allowedIps: ["127.0.0.5/32", "10.0.0.0/8"], allowedFrom: ["*@office.test"] };

function raw(from: string, to = "rcpt@isp.test", extra = "") {
  return `From: ${from}\r\nTo: ${to}\r\nSubject: Hello\r\nMessage-ID: <m1@test>\r\n${extra}\r\nHi there\r\n`;
}

function send(
  relay: TestIntake,
  options: {
    from: string;
    headerFrom?: string;
    to?: string[];
    auth?: { user: string; pass: string };
    localAddress?: string;
    extra?: string;
  },
) {
  const transport = createTransport({
    host: relay.host,
    port: relay.port,
    secure: false,
    ignoreTLS: true,
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  return transport.sendMail({
    envelope: { from: options.from, to: options.to ?? ["rcpt@isp.test"] },
    raw: raw(options.headerFrom ?? options.from, undefined, options.extra),
  });
}

describe("who may relay", () => {
  it("accepts an authenticated account's mail and answers with the message ID it spooled", async () => {
    const relay = await startTestIntake({ accounts: [acme] });
    const info = await send(relay, {
      from: "news@acme.test",
      auth: { user: "acme-user", pass: "s3cret-password" },
    });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-z]{23}$/);
    const id = info.response.split(" ").pop();
    expect(relay.accepted.map((e) => e.id)).toEqual([id]);
    expect(relay.accepted[0]?.envelope).toMatchObject({
      account: "acme",
      authUser: "acme",
      from: "news@acme.test",
      to: ["rcpt@isp.test"],
    });
    const logged = await relay.store.getMessage(id as string);
    expect(logged).toMatchObject({ account: "acme", subject: "Hello", messageIdHeader: "<m1@test>" });
    expect(await relay.spool.list()).toEqual([id]);
  });

  it("gives unknown users and wrong passwords the same 535 5.7.8", async () => {
    const relay = await startTestIntake({ accounts: [acme] });
    const wrongPassword = await send(relay, {
      from: "a@acme.test",
      auth: { user: "acme-user", pass: "nope" },
    }).catch((e: unknown) => e);
    const unknownUser = await send(relay, {
      from: "a@acme.test",
      auth: { user: "nobody", pass: "nope" },
    }).catch((e: unknown) => e);
    expect((wrongPassword as { response: string }).response).toBe("535 5.7.8 Authentication failed");
    expect((unknownUser as { response: string }).response).toBe("535 5.7.8 Authentication failed");
  });

  it("relays for an allowed IP without AUTH, and refuses other IPs with the contract's text", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const info = await send(relay, { from: "app@office.test", localAddress: "127.0.0.5" });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(relay.accepted[0]?.envelope.account).toBe("office");
    const denied = await send(relay, { from: "app@office.test", localAddress: "127.0.0.6" }).catch(
      (e: unknown) => e,
    );
    expect((denied as { response: string }).response).toBe(
      "550 5.7.1 Relaying denied for [127.0.0.6] / <app@office.test>",
    );
  });

  it("refuses an allowed IP sending as a From outside the account's allowedFrom", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const envelope = await send(relay, { from: "ceo@elsewhere.test", localAddress: "127.0.0.5" }).catch(
      (e: unknown) => e,
    );
    expect((envelope as { response: string }).response).toBe(
      "550 5.7.1 Relaying denied for [127.0.0.5] / <ceo@elsewhere.test>",
    );
    const header = await send(relay, {
      from: "app@office.test",
      headerFrom: "CEO <ceo@elsewhere.test>",
      localAddress: "127.0.0.5",
    }).catch((e: unknown) => e);
    expect((header as { response: string }).response).toBe(
      "550 5.7.1 From <ceo@elsewhere.test> is not allowed for account office",
    );
    expect(relay.accepted).toHaveLength(0);
    expect(await relay.spool.list()).toEqual([]);
  });

  it("checks the From of authenticated mail too", async () => {
    const relay = await startTestIntake({ accounts: [acme] });
    const error = await send(relay, {
      from: "x@other.test",
      auth: { user: "acme-user", pass: "s3cret-password" },
    }).catch((e: unknown) => e);
    expect((error as { response: string }).response).toBe(
      "550 5.7.1 Relaying denied for [127.0.0.1] / <x@other.test>",
    );
  });

  it("stops accepting a password within a second of it being changed", async () => {
    const relay = await startTestIntake({ accounts: [acme] });
    const auth = { user: "acme-user", pass: "s3cret-password" };
    await send(relay, { from: "a@acme.test", auth });
    await relay.putAccount({
      ...acme,
      credentials: [{ username: "acme-user", password: "rotated-password" }],
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const old = await send(relay, { from: "a@acme.test", auth }).catch((e: unknown) => e);
    expect((old as { responseCode: number }).responseCode).toBe(535);
    await send(relay, { from: "a@acme.test", auth: { user: "acme-user", pass: "rotated-password" } });
  });

  it.each([
    ["<>", "rcpt@isp.test"],
    ["<a@office.test>", "<user%isp.test@relay.test>"],
    ["<a@office.test>", "<isp.test!user>"],
    ["<a@office.test>", "<isp.test!user@relay.test>"],
    ["<a@office.test>", '<"user@isp.test">'],
    ["<a@office.test>", "<user@isp.test@relay.test>"],
    ["<a@office.test>", "<@relay.test:user@isp.test>"],
    ["<a@office.test>", '<"user%isp.test">'],
  ])("is no open relay for an unknown client: MAIL FROM:%s RCPT TO:%s", async (from, to) => {
    const relay = await startTestIntake({ accounts: [office] });
    const client = await rawSmtp(relay.port, { localAddress: "127.0.0.9" });
    expect(await client.reply()).toMatch(/^220 /);
    expect(await client.command("EHLO scanner.test")).toMatch(/^250/);
    const mail = await client.command(`MAIL FROM:${from}`);
    if (mail.startsWith("250")) {
      expect(await client.command(`RCPT TO:${to.startsWith("<") ? to : `<${to}>`}`)).toMatch(/^5\d\d /);
    } else {
      expect(mail).toMatch(/^5\d\d /);
    }
    expect(await client.command("DATA")).toMatch(/^5\d\d /);
    client.close();
    expect(relay.accepted).toHaveLength(0);
  });

  it("routes on the domain after the last @ and keeps % and ! as local-part text", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    await send(relay, {
      from: "app@office.test",
      localAddress: "127.0.0.5",
      to: ["user%evil.test@isp.test", "evil.test!user@isp.test"],
    });
    expect(relay.accepted[0]?.envelope.to).toEqual(["user%evil.test@isp.test", "evil.test!user@isp.test"]);
  });
});
