/**
 * Properties: arbitrary text and HTML bodies, in any transfer encoding, come out of a copy as
 * the same content once the intended edits (tracked links, pixel) are undone.
 */
import fc from "fast-check";
import he from "he";
import { encode as encodeBase64, wrap as wrapBase64 } from "libbase64";
import { encode as encodeQp, wrap as wrapQp } from "libqp";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { contextFor, listLeaves, runCopy, testAccount, untrack } from "./support.js";

const characters = fc.constantFrom(..."abcXYZ019 .,;:=-_()<>&\"'!?\t\u00e9\u00fc\u65e5\u672c\u{1f600}");
const line = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: characters, maxLength: 120 }) },
  { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true }).map((url) => `see ${url} now`) },
);
const text = fc.array(line, { minLength: 1, maxLength: 12 }).map((lines) => lines.join("\r\n"));
const encoding = fc.constantFrom("8bit", "base64", "quoted-printable");

function encodeAs(content: string, cte: string): string {
  const bytes = Buffer.from(content, "utf8");
  if (cte === "base64") return wrapBase64(encodeBase64(bytes), 76);
  if (cte === "quoted-printable") return wrapQp(encodeQp(bytes), 76);
  return content;
}

/** mailparser hands text back with LF line ends; compare in that form. */
const lf = (value: string) => value.replace(/\r\n/g, "\n").trimEnd();

const escapeHtml = (value: string) =>
  value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function htmlOf(paragraphs: string[], urls: string[]): string {
  const body = paragraphs.map(
    (p, i) => `<p>${escapeHtml(p)}</p><a href="${he.escape(urls[i % urls.length]!)}">l${i}</a>`,
  );
  return `<html><body>${body.join("\r\n")}</body></html>`;
}

/**
 * Href values entity-decoded, then tracked hrefs back to their URLs (already decoded: decoding
 * after would decode twice, turning a URL's literal "&#0" into U+FFFD), the pixel gone.
 */
function canonicalHtml(html: string): string {
  return untrack(
    html
      .replace(/<img src="https:\/\/t\.example\.com\/o\/[^>]*>/g, "")
      .replace(/href="([^"]*)"/g, (_, value: string) => `href="${he.decode(value)}"`),
  );
}

function message(plain: string, plainCte: string, html: string, htmlCte: string): Buffer {
  return Buffer.from(
    'From: a@acme.com\r\nTo: b@example.net\r\nSubject: p\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="=_b_="\r\n\r\n' +
      `--=_b_=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ${plainCte}\r\n\r\n${encodeAs(plain, plainCte)}\r\n` +
      `--=_b_=\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ${htmlCte}\r\n\r\n${encodeAs(html, htmlCte)}\r\n` +
      "--=_b_=--\r\n",
  );
}

describe("round trips", () => {
  it("text and HTML in any encoding survive a copy exactly, apart from tracking (wrapping off)", async () => {
    const account = testAccount({ wrapColumn: 0, tracking: { opens: true, clicks: true, textClicks: true } });
    await fc.assert(
      fc.asyncProperty(
        text,
        encoding,
        fc.array(fc.string({ unit: characters, maxLength: 80 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.webUrl({ withQueryParameters: true, withFragments: true }), {
          minLength: 1,
          maxLength: 5,
        }),
        encoding,
        async (plain, plainCte, paragraphs, urls, htmlCte) => {
          const html = htmlOf(paragraphs, urls);
          const { output } = await runCopy(message(plain, plainCte, html, htmlCte), contextFor(account));
          const parsed = await simpleParser(output);
          expect(
            untrack(parsed.text ?? "")
              .replace(/\r?\n/g, "\r\n")
              .trimEnd(),
          ).toBe(plain.trimEnd());
          expect(lf(canonicalHtml(parsed.html || ""))).toBe(lf(canonicalHtml(html)));
          const leaves = await listLeaves(output);
          // Encodings stay, except 8bit lines over 998 octets, which need quoted-printable.
          expect(leaves.map((leaf) => leaf.encoding)).toEqual(
            [
              [plain, plainCte],
              [html, htmlCte],
            ].map(([content, cte]) =>
              cte === "8bit" && content!.split("\r\n").some((l) => Buffer.byteLength(l) > 998)
                ? "quoted-printable"
                : cte,
            ),
          );
        },
      ),
      { numRuns: 120 },
    );
  });

  it("with wrapping on, only line breaks change in text, and no wire line passes 998 octets", async () => {
    const account = testAccount({
      wrapColumn: 76,
      tracking: { opens: false, clicks: false, textClicks: false },
    });
    await fc.assert(
      fc.asyncProperty(text, encoding, async (plain, cte) => {
        const html = `<html><body><p>${escapeHtml(plain)}</p></body></html>`;
        const { output } = await runCopy(message(plain, cte, html, cte), contextFor(account));
        expect(
          output
            .toString("latin1")
            .split("\r\n")
            .every((l) => l.length <= 998),
        ).toBe(true);
        const parsed = await simpleParser(output);
        const words = (value: string) => value.split(/\s+/).filter(Boolean);
        expect(words(parsed.text ?? "")).toEqual(words(plain));
        expect(lf(parsed.html || "")).toBe(lf(html));
      }),
      { numRuns: 80 },
    );
  });
});
