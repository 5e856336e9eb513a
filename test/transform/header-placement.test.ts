/**
 * HOSTILE-INPUTS row 26. A header block with a line that is neither a field nor a continuation
 * ("--foo" among the fields) is read differently by different readers, so its copy goes out as
 * it came: byte for byte below the DKIM signature, which still verifies. In every other copy the
 * fields the relay adds are at the top of the block, never between the sender's.
 */
import { dkimVerify } from "mailauth";
import { describe, expect, it } from "vitest";
import { malformedLineOffset, parseHeaderBlock } from "../../relay/transform/header-block.js";
import { startTestIntake } from "../support/intake.js";
import { rawSmtp } from "../support/smtp-client.js";
import { contextFor, rsaKey, runCopy, testAccount } from "./support.js";

const dkim = rsaKey("acme.com", "s1");
const resolver = async (name: string, type: string) => {
  if (type === "TXT" && name === "s1._domainkey.acme.com") return [[dkim.dnsTxt]];
  throw Object.assign(new Error(`no ${type} for ${name}`), { code: "ENOTFOUND" });
};
const account = testAccount({ tracking: { opens: true, clicks: true, textClicks: true }, dkim: [dkim.key] });

const BODY =
  '<html><body><p><a href="https://shop.example/sale">Sale</a> ***uniqueid***</p></body></html>\r\n';

function message(headerLines: string[]): Buffer {
  return Buffer.from(`${headerLines.join("\r\n")}\r\n\r\n${BODY}`, "latin1");
}

const SENDER_FIELDS = [
  "From: News <news@acme.com>",
  "To: rcpt@example.net",
  "Subject: Sale",
  "X-Relay-Group: promotions",
  "List-Unsubscribe: <https://acme.com/unsub>",
  "MIME-Version: 1.0",
  "Content-Type: text/html; charset=utf-8",
];

function headerOf(output: Buffer) {
  return parseHeaderBlock(output.subarray(0, output.indexOf("\r\n\r\n") + 4)).fields;
}

describe("malformedLineOffset", () => {
  const block = (lines: string[]) => Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  it.each([
    ["fields and folded continuations", ["From: a@b.test", "Subject: one", "\ttwo", "  three"], -1],
    ['obsolete "Name :" spacing', ["Subject : old style", "From: a@b.test"], -1],
    ['"--foo" among the fields', ["From: a@b.test", "--foo", "Subject: x"], 16],
    ["a line without a colon", ["From: a@b.test", "Subject x"], 16],
    ["a name with a space in it", ["From: a@b.test", "X Bad: y"], 16],
    ["a continuation with no field before it", [" folded", "From: a@b.test"], 0],
    ['an mbox "From " line', ["From a@b.test Mon Jan  1 00:00:00 2024", "Subject: x"], 0],
  ])("%s", (_, lines, expected) => {
    expect(malformedLineOffset(block(lines))).toBe(expected);
  });

  it("reads only up to the empty line: the body may hold anything", () => {
    expect(malformedLineOffset(Buffer.from("From: a@b.test\r\n\r\n--foo\r\nnot a field\r\n"))).toBe(-1);
  });

  it("a block that runs to the end of the message counts too", () => {
    expect(malformedLineOffset(Buffer.from("From: a@b.test\r\nSubject: x\r\n"))).toBe(-1);
    expect(malformedLineOffset(Buffer.from("From: a@b.test\r\n--foo"))).toBe(16);
  });
});

describe("a copy of a message whose header block is malformed", () => {
  const original = message([...SENDER_FIELDS.slice(0, 3), "--foo", ...SENDER_FIELDS.slice(3)]);

  it.each(["full", "passthrough"] as const)(
    "%s mode: byte for byte below the DKIM signature, which verifies",
    async (mode) => {
      const { output, summary } = await runCopy(original, contextFor(account, { mode }));
      expect(summary.notices).toContainEqual({ code: "malformed-header-block" });
      expect(summary.bodyChanged).toBe(false);
      expect(summary.dkim).toEqual(["s1._domainkey.acme.com"]);
      // Only the signature was added, above everything else.
      const signature = headerOf(output)[0]!;
      expect(signature.name).toBe("dkim-signature");
      expect(output.subarray(signature.raw.length).equals(original)).toBe(true);
      const verified = await dkimVerify(output, { resolver });
      expect(verified.results.map((r) => `${r.signingDomain}:${r.status.result}`)).toEqual(["acme.com:pass"]);
    },
  );

  it("without DKIM keys the copy is the original itself", async () => {
    const { output } = await runCopy(original, contextFor(testAccount()));
    expect(output.equals(original)).toBe(true);
  });
});

describe("fields the relay adds", () => {
  it("List-Unsubscribe and List-Unsubscribe-Post go at the top, the sender's fields follow in order", async () => {
    const original = message(SENDER_FIELDS);
    const noAlternative = testAccount({ ...account, autoAlternative: false });
    const { output } = await runCopy(original, contextFor(noAlternative));
    const fields = headerOf(output).map((field) => field.raw.toString("latin1").replace(/\r\n$/, ""));
    expect(fields[0]).toMatch(/^DKIM-Signature: /);
    // Ours, above the sender's: the one-click pair, and (the tracking URL made a line too long
    // for 7bit) the part's new transfer encoding.
    expect(fields.slice(1, 4).sort()).toEqual([
      "Content-Transfer-Encoding: quoted-printable",
      "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
      expect.stringMatching(/^List-Unsubscribe: <https:\/\/t\.example\.com\/u\/[^>]+>$/),
    ]);
    // X-Relay-* and the sender's own List-Unsubscribe are removed; nothing else moves.
    expect(fields.slice(4)).toEqual(
      SENDER_FIELDS.filter((field) => !/^(X-Relay-|List-Unsubscribe)/.test(field)),
    );
    const verified = await dkimVerify(output, { resolver });
    expect(verified.results.map((r) => r.status.result)).toEqual(["pass"]);
  });

  it("a generated alternative's MIME-Version and Content-Type go at the top too", async () => {
    const original = message([
      "From: news@acme.com",
      "To: rcpt@example.net",
      "Subject: Sale",
      "Content-Type: text/html",
    ]);
    const { output } = await runCopy(original, contextFor(testAccount({ autoAlternative: true })));
    const names = headerOf(output).map((field) => field.name);
    expect(names).toEqual([
      "mime-version",
      "content-type",
      "list-unsubscribe",
      "list-unsubscribe-post",
      "from",
      "to",
      "subject",
    ]);
    expect(output.toString("latin1")).toContain("multipart/alternative");
  });
});

describe("relayfleet_malformed_header_blocks_total", () => {
  it("counts each accepted message whose header block is malformed, and only those", async () => {
    const relay = await startTestIntake({
      accounts: [{ name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] }],
    });
    const client = await rawSmtp(relay.port);
    expect(await client.reply()).toMatch(/^220 /);
    expect(await client.command("EHLO client.test")).toMatch(/^250/);
    const send = async (header: string) => {
      expect(await client.command("MAIL FROM:<app@office.test>")).toMatch(/^250/);
      expect(await client.command("RCPT TO:<rcpt@isp.test>")).toMatch(/^250/);
      expect(await client.command("DATA")).toMatch(/^354/);
      expect(await client.command(`${header}\r\n\r\nbody\r\n.`)).toMatch(/^250/);
    };
    const counted = async () => (await relay.metrics.malformedHeaderBlocks.get()).values[0]?.value ?? 0;
    await send("From: app@office.test\r\nTo: rcpt@isp.test\r\nSubject: fine");
    expect(await counted()).toBe(0);
    await send("From: app@office.test\r\n--foo\r\nTo: rcpt@isp.test\r\nSubject: broken");
    expect(await counted()).toBe(1);
    expect(relay.accepted).toHaveLength(2);
    client.close();
    const exposition = await relay.metrics.registry.metrics();
    expect(exposition).toContain("relayfleet_malformed_header_blocks_total 1");
  });
});
