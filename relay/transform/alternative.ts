/**
 * autoAlternative: the missing half of a multipart/alternative, generated from the half the
 * sender wrote. A text-only message gets an HTML part (so opens can be tracked); an HTML-only
 * message gets a text part. Generated parts are UTF-8.
 */
import { createHash, randomBytes } from "node:crypto";
import { compile, type compiledFunction } from "html-to-text";
import { textUrlPattern } from "./ascii.js";
import { encodeBody, MAX_LINE_OCTETS } from "./encoding.js";
import { longestLine, trimUrlEnd } from "./plain.js";

/** html-to-text and linkifying get at most this much input, so one huge HTML part cannot pin a CPU. */
export const MAX_ALTERNATIVE_SOURCE_CHARS = 1024 * 1024;

export function newBoundary(): string {
  return `----=_relayfleet_${randomBytes(12).toString("hex")}`;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => ESCAPES[c]!);

/** The HTML twin of a text part: escaped text in a pre-wrap block, URLs made links. */
export function htmlFromText(text: string, flowed: { flowed: boolean; delSp: boolean }): string {
  const reflowed = flowed.flowed ? unflow(text, flowed.delSp) : text;
  let html = "";
  let last = 0;
  for (const match of reflowed.matchAll(textUrlPattern())) {
    const url = trimUrlEnd(match[0]);
    html += escapeHtml(reflowed.slice(last, match.index));
    html += `<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>`;
    last = match.index + url.length;
  }
  html += escapeHtml(reflowed.slice(last));
  return (
    '<!DOCTYPE html>\r\n<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>' +
    `<body><div style="white-space:pre-wrap">${html}</div></body></html>\r\n`
  );
}

/** RFC 3676 reflow: join soft-broken lines, undo space-stuffing. */
function unflow(text: string, delSp: boolean): string {
  return text
    .split("\r\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line))
    .reduce((out, line, i, lines) => {
      const previous = lines[i - 1];
      const soft = i > 0 && previous !== undefined && previous.endsWith(" ") && previous !== "-- ";
      if (i === 0) return line;
      if (!soft) return `${out}\r\n${line}`;
      return (delSp ? out.slice(0, -1) : out) + line;
    }, "");
}

const converters = new Map<number, compiledFunction>();

/** The text twin of an HTML part, wrapped at the account's column (0: not wrapped). */
export function textFromHtml(html: string, wrapColumn: number): string {
  let convert = converters.get(wrapColumn);
  if (!convert) {
    convert = compile({
      wordwrap: wrapColumn > 0 ? wrapColumn : false,
      selectors: [
        { selector: "img", format: "skip" },
        { selector: "a", options: { hideLinkHrefIfSameAsText: true } },
      ],
    });
    converters.set(wrapColumn, convert);
  }
  return `${convert(html).replace(/\r?\n/g, "\r\n")}\r\n`;
}

/**
 * Generated alternatives by source: every recipient of a message gets the same one (only
 * ***uniqueid*** and tracking differ, and those are applied afterwards), and html-to-text costs
 * about half a millisecond for 10 KB. Bounded LRU; one per process, passed in like KeyCache.
 */
export class AlternativeCache {
  private readonly entries = new Map<string, string>();
  constructor(private readonly maxEntries = 256) {}

  getOrMake(kind: string, source: string, make: () => string): string {
    const key = `${kind}:${createHash("sha256").update(source).digest("base64")}`;
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const made = make();
    this.entries.set(key, made);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return made;
  }
}

/** A complete generated part: its header block and encoded body (ends with a line break). */
export function generatedPart(contentType: "text/plain" | "text/html", text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const plainAscii = !/[\u0080-\uffff]/.test(text) && longestLine(text) <= MAX_LINE_OCTETS;
  const encoding = plainAscii ? "7bit" : "quoted-printable";
  const header = `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`;
  return Buffer.concat([Buffer.from(header, "latin1"), encodeBody(bytes, encoding, true)]);
}
