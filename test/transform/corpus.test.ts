/**
 * Every message of ../shared/corpus (in CRLF form) through a full copy: the result must parse to
 * the same message apart from the intended edits, and every DKIM signature must verify.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import he from "he";
import { decode as decodeBase64 } from "libbase64";
import { decode as decodeCharset } from "libmime/lib/charset.js";
import { decode as decodeQp } from "libqp";
import { dkimVerify } from "mailauth";
import { type ParsedMail, simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { fromDomain } from "../../relay/transform/dkim.js";
import { malformedLineOffset, parseHeaderBlock } from "../../relay/transform/header-block.js";
import type { TransformNotice } from "../../relay/transform/index.js";
import { toCrlf } from "../../relay/transform/line-endings.js";
import {
  contextFor,
  type Leaf,
  listLeaves,
  markGenerated,
  rsaKey,
  runCopy,
  TRACKING_BASE,
  testAccount,
  unsubscribeTokenIn,
  untrack,
} from "./support.js";

const CORPUS = new URL("../fixtures/corpus/", import.meta.url).pathname;
const files = readdirSync(CORPUS)
  .filter((name) => name.endsWith(".eml"))
  .sort();

/** One RSA key per From domain, made on demand, with its DNS record for the verifier. */
const dns = new Map<string, string>();
const keys = new Map<string, ReturnType<typeof rsaKey>>();
function keyFor(domain: string) {
  let entry = keys.get(domain);
  if (!entry) {
    entry = rsaKey(domain, "corpus");
    keys.set(domain, entry);
    dns.set(`corpus._domainkey.${domain}`, entry.dnsTxt);
  }
  return entry.key;
}
const resolver = async (name: string, type: string) => {
  const txt = type === "TXT" ? dns.get(name) : undefined;
  if (!txt) throw Object.assign(new Error(`no ${type} for ${name}`), { code: "ENOTFOUND" });
  return [[txt]];
};

const tally = { messages: 0, rewritten: 0, unchanged: 0, signed: 0, reasons: new Map<string, number>() };

describe("corpus", () => {
  it.each(files)("%s", { timeout: 20_000 }, async (name) => {
    // The CRLF form an SMTP client sends: LF → CRLF, and a final CRLF before the "." if missing;
    // without an mbox "From " envelope line (RFC 4155), which is the mailbox's, not the message's.
    const crlf = withoutMboxEnvelope(toCrlf(readFileSync(join(CORPUS, name))));
    const original = crlf.subarray(-2).equals(Buffer.from("\r\n"))
      ? crlf
      : Buffer.concat([crlf, Buffer.from("\r\n")]);
    const headerEnd = original.indexOf("\r\n\r\n");
    const domain = fromDomain(headerEnd === -1 ? original : original.subarray(0, headerEnd + 4));
    const account = testAccount({
      tracking: { opens: true, clicks: true, textClicks: true },
      dkim: domain ? [keyFor(domain)] : [],
    });
    const { output, summary } = await runCopy(original, contextFor(account, { messageId: `corpus-${name}` }));
    record(summary.bodyChanged, summary.notices, summary.dkim.length > 0);

    // No stray CR or LF, no NUL, no line over 998 octets that was not there before.
    expect(/\r(?!\n)|(?<!\r)\n|\0/.test(output.toString("latin1"))).toBe(false);

    const [before, after] = await Promise.all([simpleParser(original), simpleParser(output)]);
    expect(after.subject).toEqual(before.subject);
    // mailparser cannot read some obsolete From syntax; the raw bytes are compared below anyway.
    if (before.from) expect(after.from?.text).toEqual(before.from.text);
    expect(attachmentDigests(after)).toEqual(attachmentDigests(before));

    const [leavesBefore, leavesAfter] = await Promise.all([listLeaves(original), listLeaves(output)]);
    markGenerated(leavesBefore, leavesAfter);
    expectSameParts(leavesBefore, leavesAfter);
    expectHeaderFieldsKept(original, output);

    const htmlBefore = bodyText(leavesBefore, "text/html");
    const htmlAfter = bodyText(leavesAfter, "text/html");
    expectLinksAccountedFor(leavesBefore, leavesAfter, summary.notices);
    expect(canonicalHtml(htmlAfter)).toEqual(canonicalHtml(htmlBefore));
    const textBefore = bodyText(leavesBefore, "text/plain");
    const textAfter = bodyText(leavesAfter, "text/plain");
    expect(canonicalText(textAfter, output)).toEqual(canonicalText(textBefore, original));

    if (summary.dkim.length > 0) {
      const result = await dkimVerify(output, { resolver });
      const ours = result.results.filter((r) => r.selector === "corpus");
      expect(ours.map((r) => r.status.result)).toEqual(["pass"]);
    }
    const headers = parseHeaderBlock(output.subarray(0, output.indexOf("\r\n\r\n") + 4)).fields;
    if (summary.notices.some((notice) => notice.code === "malformed-header-block")) {
      // A line that is neither field nor continuation (often an mbox "From " line): the copy is
      // the original byte for byte under the DKIM signature (HOSTILE-INPUTS row 26).
      expect(malformedLineOffset(original.subarray(0, headerEnd + 4))).not.toBe(-1);
      expect(output.subarray(output.length - original.length).equals(original)).toBe(true);
      expect(headers.slice(0, summary.dkim.length).map((field) => field.name)).toEqual(
        summary.dkim.map(() => "dkim-signature"),
      );
      expect(output.length - original.length).toBe(
        headers.slice(0, summary.dkim.length).reduce((sum, field) => sum + field.raw.length, 0),
      );
      return;
    }
    expect(headers.filter((field) => field.name.startsWith("x-relay-"))).toEqual([]);
    expect(headers.filter((field) => field.name === "list-unsubscribe")).toHaveLength(1);
  });

  it("tally", () => {
    const reasons = Object.fromEntries([...tally.reasons].sort());
    console.info(`corpus: ${JSON.stringify({ ...tally, reasons })}`);
    expect(tally.messages).toBe(files.length);
  });
});

function record(bodyChanged: boolean, notices: TransformNotice[], signed: boolean) {
  tally.messages++;
  if (bodyChanged) tally.rewritten++;
  else tally.unchanged++;
  if (signed) tally.signed++;
  if (!bodyChanged && notices.length === 0) {
    tally.reasons.set("unchanged:nothing-to-edit", (tally.reasons.get("unchanged:nothing-to-edit") ?? 0) + 1);
  }
  for (const code of new Set(notices.map((notice) => notice.code))) {
    const key = `${bodyChanged ? "rewritten" : "unchanged"}:${code}`;
    tally.reasons.set(key, (tally.reasons.get(key) ?? 0) + 1);
  }
}

function withoutMboxEnvelope(message: Buffer): Buffer {
  return message.subarray(0, 5).toString("latin1") === "From "
    ? message.subarray(message.indexOf("\n") + 1)
    : message;
}

/** The decoded text of the sender's own body parts of one type (generated alternatives left out). */
function bodyText(leaves: Leaf[], type: string): string {
  return leaves
    .filter((leaf) => leaf.contentType === type && !leaf.attachment && !leaf.generated)
    .map((leaf) => {
      const bytes =
        leaf.encoding === "base64"
          ? decodeBase64(leaf.body.toString("latin1"))
          : leaf.encoding === "quoted-printable"
            ? decodeQp(leaf.body)
            : leaf.body;
      return decodeCharset(bytes, leaf.charset || "us-ascii");
    })
    .join("\n");
}

function attachmentDigests(mail: ParsedMail): string[] {
  return mail.attachments.map((a) => `${a.contentType} ${a.filename ?? ""} ${a.checksum} ${a.size}`).sort();
}

/** Same parts in the same order, same charset; encoding the same or 7bit/8bit → quoted-printable. */
function expectSameParts(before: Leaf[], after: Leaf[]) {
  const kept = after.filter((leaf) => !leaf.generated);
  expect(kept.map((leaf) => `${leaf.contentType} ${leaf.charset}`)).toEqual(
    before.map((leaf) => `${leaf.contentType} ${leaf.charset}`),
  );
  kept.forEach((leaf, i) => {
    const was = before[i]!;
    if (leaf.encoding !== was.encoding) {
      expect(["7bit", "8bit", "binary"]).toContain(was.encoding);
      expect(leaf.encoding).toBe("quoted-printable");
      expect(leaf.contentType.startsWith("text/")).toBe(true);
    }
    // Parts that are not body text pass byte for byte.
    if (!leaf.contentType.startsWith("text/") || leaf.attachment)
      expect(leaf.body.equals(was.body)).toBe(true);
  });
}

const HREF = /<(?:a|area)\b(?:[^>"']|"[^"]*"|'[^']*')*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi;

function hrefs(html: string): string[] {
  return [...html.matchAll(HREF)].map((m) =>
    he.decode(m[1] ?? m[2] ?? m[3] ?? "", { isAttributeValue: true }).trim(),
  );
}

/**
 * Each link is either tracked (its token signs the original URL) or deliberately kept: not
 * http(s), or in a part left untouched for a reason that was reported.
 */
function expectLinksAccountedFor(before: Leaf[], after: Leaf[], notices: TransformNotice[]) {
  const html = (leaves: Leaf[]) =>
    leaves.filter((leaf) => leaf.contentType === "text/html" && !leaf.attachment && !leaf.generated);
  const was = html(before);
  html(after).forEach((leaf, i) => {
    const untouched = leaf.body.equals(was[i]!.body);
    if (untouched && hrefs(bodyText([leaf], "text/html")).some(isTrackable))
      expect(notices.length).toBeGreaterThan(0);
    if (!untouched) expectLinksOfPart(bodyText([was[i]!], "text/html"), bodyText([leaf], "text/html"));
  });
}

function isTrackable(url: string): boolean {
  return /^https?:\/\//i.test(url) && !url.startsWith(TRACKING_BASE) && URL.canParse(url);
}

function expectLinksOfPart(before: string, after: string) {
  const was = hrefs(before);
  const now = hrefs(withoutPixel(after));
  expect(now).toHaveLength(was.length);
  now.forEach((url, i) => {
    const original = was[i]!;
    if (url.startsWith(`${TRACKING_BASE}/c/`)) {
      expect(untrack(url)).toBe(/[^\x20-\x7e]/.test(original) ? new URL(original).href : original);
      return;
    }
    expect(url).toBe(original);
    expect(isTrackable(original)).toBe(false);
  });
}

const withoutPixel = (html: string) =>
  html.replace(/<img src="https:\/\/t\.example\.com\/o\/[^"]+" width="1"[^>]*>/g, "");

/** Every header field of the original is in the copy, byte for byte (X-Relay-*, List-Unsubscribe* aside). */
function expectHeaderFieldsKept(original: Buffer, output: Buffer) {
  const block = (message: Buffer) => {
    const end = message.indexOf("\r\n\r\n");
    return parseHeaderBlock(end === -1 ? message : message.subarray(0, end + 4)).fields;
  };
  const after = new Set(block(output).map((field) => field.raw.toString("latin1").replace(/\r\n$/, "")));
  for (const field of block(original)) {
    if (field.name.startsWith("x-relay-") || field.name.startsWith("list-unsubscribe")) continue;
    const raw = field.raw.toString("latin1").replace(/\r\n$/, "");
    // Content-* fields of a text-only root move, unchanged, into the part inside the new alternative.
    if (field.name.startsWith("content-")) expect(output.includes(raw, 0, "latin1")).toBe(true);
    else expect(after.has(raw)).toBe(true);
  }
}

function canonicalHtml(html: string): string {
  return untrack(withoutPixel(html))
    .replace(HREF, (tag) => he.decode(tag))
    .replace(/\s+/g, " ")
    .trim();
}

function canonicalText(text: string, message: Buffer): string {
  const token = unsubscribeTokenIn(message.toString("latin1"));
  const restored = token ? text.split(token).join("***uniqueid***") : text;
  return untrack(restored).replace(/\s+/g, " ").trim();
}
