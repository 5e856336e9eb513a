import { createConnection } from "node:net";
import { describe, expect, it } from "vitest";
import { startTestIntake, type TestIntake } from "../support/intake.js";
import { type RawSmtp, rawSmtp } from "../support/smtp-client.js";

const office = { name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] };

async function openSession(relay: TestIntake): Promise<RawSmtp> {
  const client = await rawSmtp(relay.port);
  expect(await client.reply()).toMatch(/^220 /);
  expect(await client.command("EHLO client.test")).toMatch(/^250/);
  return client;
}

async function startData(client: RawSmtp, to = "rcpt@isp.test") {
  expect(await client.command("MAIL FROM:<app@office.test>")).toMatch(/^250/);
  expect(await client.command(`RCPT TO:<${to}>`)).toMatch(/^250/);
  expect(await client.command("DATA")).toMatch(/^354/);
}

const HEADER = "From: app@office.test\r\nTo: rcpt@isp.test\r\nSubject: t\r\n\r\n";

describe("hostile SMTP input", () => {
  it("advertises what a trusted MTA does", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const client = await rawSmtp(relay.port);
    await client.reply();
    const ehlo = await client.command("EHLO client.test");
    for (const extension of [
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "SIZE 104857600",
      "ENHANCEDSTATUSCODES",
      "AUTH PLAIN LOGIN",
    ]) {
      expect(ehlo).toContain(extension);
    }
    expect(ehlo).not.toContain("STARTTLS");
    client.close();
  });

  it.each([
    [
      "bare LF before the dot",
      `hello\n.\r\nMAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@isp.test>\r\nDATA\r\nsmuggled\r\n`,
    ],
    [
      "bare LF both sides",
      `hello\n.\nMAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@isp.test>\r\nDATA\r\nsmuggled\r\n`,
    ],
    [
      "bare CR before the dot",
      `hello\r.\r\nMAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@isp.test>\r\nDATA\r\nsmuggled\r\n`,
    ],
    [
      "bare CR both sides",
      `hello\r.\rMAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@isp.test>\r\nDATA\r\nsmuggled\r\n`,
    ],
    [
      "bare LF after the dot",
      `hello\r\n.\nMAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@isp.test>\r\nDATA\r\nsmuggled\r\n`,
    ],
  ])("refuses SMTP smuggling (%s) and no second message exists", async (_name, body) => {
    const relay = await startTestIntake({ accounts: [office] });
    const client = await openSession(relay);
    await startData(client);
    client.send(`${HEADER}${body}\r\n.\r\n`);
    expect(await client.reply()).toMatch(/^550 5\.5\.2 .*smuggling/);
    expect(await client.command("QUIT")).toMatch(/^221/);
    expect(relay.accepted).toHaveLength(0);
    expect(await relay.spool.list()).toEqual([]);
  });

  it("stores other bare line ends as CRLF", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const client = await openSession(relay);
    await startData(client);
    client.send(`${HEADER}one\ntwo\rthree\r\n.\r\n`);
    expect(await client.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const entry = relay.accepted[0];
    if (!entry) throw new Error("not accepted");
    const chunks: Buffer[] = [];
    for await (const chunk of relay.spool.read(entry)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(`${HEADER}one\r\ntwo\r\nthree\r\n`);
    client.close();
  });

  it("greets at once on a submission listener (no fixed early-talker wait)", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const client = await rawSmtp(relay.port);
    // Talking at once, as the 421 case below does: with a greeting wait this EHLO would be refused.
    // How fast the banner comes is a benchmark figure (bench/scenarios/responsiveness.ts).
    client.send("EHLO eager.test\r\n");
    expect(await client.reply(5_000)).toMatch(/^220 /);
    expect(await client.reply(5_000)).toMatch(/^250[ -]/);
    client.close();
  });

  it("answers 421 to a client that talks before the banner where the greeting waits (port 25's default)", async () => {
    const relay = await startTestIntake({ accounts: [office], intake: { greetingDelayMs: 100 } });
    const reply = await new Promise<string>((resolve) => {
      const socket = createConnection({ port: relay.port, host: "127.0.0.1" }, () =>
        socket.write("EHLO eager.test\r\n"),
      );
      let text = "";
      socket.on("data", (d: Buffer) => {
        text += d.toString();
      });
      socket.on("close", () => resolve(text));
    });
    expect(reply).toMatch(/^421 /m);
  });

  it("refuses NUL bytes, too many Received: headers and an oversized header", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const cases: [string, RegExp][] = [
      [`${HEADER}a\0b\r\n.\r\n`, /^554 5\.6\.0 /],
      [`${"Received: from x by y\r\n".repeat(101)}${HEADER}loop\r\n.\r\n`, /^554 5\.4\.6 /],
      [`${`${"X-Pad: ".padEnd(900, "a")}\r\n`.repeat(1300)}${HEADER}big\r\n.\r\n`, /^552 5\.3\.4 /],
    ];
    for (const [data, expected] of cases) {
      const client = await openSession(relay);
      await startData(client);
      client.send(data);
      expect(await client.reply()).toMatch(expected);
      client.close();
    }
    expect(relay.accepted).toHaveLength(0);
  });

  it("refuses control characters in envelope addresses and over-long command lines", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    const client = await openSession(relay);
    expect(await client.command("MAIL FROM:<app\x01@office.test>")).toMatch(/^5\d\d /);
    // RFC 5321 §4.5.3.1.4: 512 octets; a 100 KB line is refused and the connection closed.
    expect(await client.command(`RCPT TO:<${"a".repeat(100_000)}@isp.test>`)).toMatch(
      /^(421|5\d\d) .*too long/,
    );
    await client.closed;
  });

  it("refuses a message with no From header, and an invalid X-Relay-Group", async () => {
    const relay = await startTestIntake({ accounts: [office] });
    for (const [data, expected] of [
      ["To: x@isp.test\r\nSubject: none\r\n\r\nbody\r\n.\r\n", /^550 5\.7\.1 Message has no From/],
      [`X-Relay-Group: a\x01b\r\n${HEADER}body\r\n.\r\n`, /^554 5\.6\.0 X-Relay-Group/],
    ] as const) {
      const client = await openSession(relay);
      await startData(client);
      client.send(data);
      expect(await client.reply()).toMatch(expected);
      client.close();
    }
  });

  it("limits AUTH attempts per connection and then per IP", async () => {
    const relay = await startTestIntake({
      accounts: [
        {
          name: "acme",
          credentials: [{ username: "u", password: "right-password" }],
          allowedFrom: ["*@acme.test"],
        },
      ],
      intake: { maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIp: 5 },
    });
    const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");
    const first = await openSession(relay);
    expect(await first.command(`AUTH PLAIN ${plain("u", "guess1")}`)).toMatch(/^535 5\.7\.8 /);
    expect(await first.command(`AUTH PLAIN ${plain("u", "guess2")}`)).toMatch(/^535 5\.7\.8 /);
    expect(await first.command(`AUTH PLAIN ${plain("u", "guess3")}`)).toMatch(/^421 4\.7\.0 /);
    await first.closed;
    const second = await openSession(relay);
    expect(await second.command(`AUTH PLAIN ${plain("u", "guess4")}`)).toMatch(/^535 /);
    expect(await second.command(`AUTH PLAIN ${plain("u", "guess5")}`)).toMatch(/^421 4\.7\.0 /);
    await second.closed;
    // Now even the right password is refused from this IP for the window.
    const third = await openSession(relay);
    expect(await third.command(`AUTH PLAIN ${plain("u", "right-password")}`)).toMatch(/^421 4\.7\.0 /);
  });

  it("caps connections per IP with 421 4.7.0", async () => {
    // A stranger: clients in an account's allowedIps are exempt (test/intake/strangers.test.ts).
    const relay = await startTestIntake({
      accounts: [{ ...office, allowedIps: ["192.0.2.0/24"] }],
      intake: { maxConnectionsPerIp: 2 },
    });
    const a = await openSession(relay);
    const b = await openSession(relay);
    const c = await rawSmtp(relay.port);
    expect(await c.reply()).toMatch(/^421 4\.7\.0 /);
    a.close();
    b.close();
  });

  it("closes a sender that trickles DATA below the minimum rate", async () => {
    const relay = await startTestIntake({
      accounts: [office],
      intake: { minDataRate: 500, dataRateGraceSeconds: 1 },
    });
    const client = await openSession(relay);
    await startData(client);
    client.send(HEADER);
    const started = Date.now();
    const trickle = setInterval(() => client.send("x"), 500);
    try {
      expect(await client.reply(10_000)).toMatch(/^421 4\.4\.2 Data rate too low/);
      await client.closed;
    } finally {
      clearInterval(trickle);
    }
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await relay.spool.list()).toEqual([]);
  });

  it("ends a session at its deadline however busy it is", async () => {
    const relay = await startTestIntake({ accounts: [office], intake: { sessionTimeoutSeconds: 1 } });
    const client = await openSession(relay);
    const keepBusy = setInterval(() => client.send("NOOP\r\n"), 200);
    try {
      await client.closed;
    } finally {
      clearInterval(keepBusy);
    }
  });
});
