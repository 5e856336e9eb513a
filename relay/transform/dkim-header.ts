/**
 * DKIM header canonicalization (RFC 6376 §3.4.2 relaxed) and the DKIM-Signature field's
 * formatting, for the streaming signer in dkim.ts. mailauth's public API signs whole messages
 * only (dkimSign); these pieces are internals of it, so they live here, ported to TypeScript
 * with the same output, rather than imported from paths mailauth does not promise to keep.
 *
 * Ported from mailauth 4.13 (lib/tools.js: parseHeaders, getSigningHeaderLines,
 * formatSignatureHeaderLine, formatRelaxedLine; lib/dkim/header/relaxed.js), under its licence:
 *
 * Copyright (c) 2020-2026 Postal Systems OÜ
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy
 * of this software and associated documentation files (the "Software"), to deal
 * in the Software without restriction, including without limitation the rights
 * to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 * copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in all
 * copies or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 * IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 * FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 * AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 * LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 * OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 * SOFTWARE.
 */
import { domainToASCII } from "node:url";
import libmime from "libmime";

export interface HeaderLine {
  /** The field name, lower-cased; null for a line without a colon. */
  key: string | null;
  casedKey: string | undefined;
  /** The whole field, continuation lines included, without the final CRLF. */
  line: Buffer;
}

export interface SigningHeaderLines {
  /** The h= tag: the signed fields' names as they were written, joined by ": ". */
  keys: string;
  headers: HeaderLine[];
}

/** The fields of a header block (its terminating empty line may be included). */
export function parseHeaderLines(headerBlock: Buffer): HeaderLine[] {
  const rows = withoutTrailingLineBreaks(headerBlock.toString("binary"))
    .split(/\r?\n/)
    .map((row) => [row]);
  for (let i = rows.length - 1; i > 0; i--) {
    if (/^\s/.test(rows[i]?.[0] ?? "")) {
      rows[i - 1] = (rows[i - 1] ?? []).concat(rows[i] ?? []);
      rows.splice(i, 1);
    }
  }
  return rows.map((parts) => {
    const row = parts.join("\r\n");
    const name = /^[^:]+/.exec(row);
    const casedKey = name ? name[0].trim() : undefined;
    return {
      key: casedKey === undefined ? null : casedKey.toLowerCase(),
      casedKey,
      line: Buffer.from(row, "binary"),
    };
  });
}

/** `text` without the CRs and LFs at its end (mailauth's /[\r\n]+$/, quadratic on a long run of them). */
function withoutTrailingLineBreaks(text: string): string {
  let end = text.length;
  while (end > 0 && (text[end - 1] === "\r" || text[end - 1] === "\n")) end--;
  return text.slice(0, end);
}

const TAG_SEPARATOR = /[;:\s]/;

/**
 * The field with the value of its first b= tag (one after a separator) removed, up to the next
 * ";": what mailauth's /([;:\s]+b=)[^;]+/ replaced, scanned by hand (that pattern is quadratic).
 */
function withoutSignatureValue(text: string): string {
  for (let at = text.indexOf("b="); at !== -1; at = text.indexOf("b=", at + 1)) {
    if (at === 0 || !TAG_SEPARATOR.test(text[at - 1] ?? "")) continue;
    const valueStart = at + 2;
    const semicolon = text.indexOf(";", valueStart);
    const valueEnd = semicolon === -1 ? text.length : semicolon;
    if (valueEnd > valueStart) return text.slice(0, valueStart) + text.slice(valueEnd);
  }
  return text;
}

/** The fields to sign, bottom-up (RFC 6376 §5.4.2: the last instance first), from a ":" list. */
export function signingHeaderLines(fields: readonly HeaderLine[], fieldNames: string): SigningHeaderLines {
  const names = fieldNames
    .split(":")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name);
  const headers: HeaderLine[] = [];
  for (let i = fields.length - 1; i >= 0; i--) {
    const field = fields[i];
    if (field?.key && names.includes(field.key)) headers.push(field);
  }
  return { keys: headers.map((field) => field.casedKey).join(": "), headers };
}

/** RFC 6376 §3.4.2: unfolded, name lower-cased, whitespace runs to one space, trimmed. */
function relaxedLine(line: Buffer | string, suffix = ""): Buffer {
  const text = line
    .toString("binary")
    .replace(/\r?\n/g, "")
    .replace(/^([^:]*):\s*/, (_match, name: string) => `${name.toLowerCase().trim()}:`)
    .replace(/\s+/g, " ")
    .trim();
  return Buffer.from(text + suffix, "binary");
}

const TAG_ORDER = ["v", "a", "c", "d", "h", "i", "l", "q", "s", "t", "x", "z", "bh", "b"] as const;

export type SignatureTags = Partial<Record<(typeof TAG_ORDER)[number], string | number>>;

/**
 * A-labels for d= (the name the verifier looks up); an ASCII name is left exactly as written. IDNA
 * lower-cases a non-ASCII label's A-label, where mailauth's punycode kept its case: DNS ignores it.
 */
function asciiDomain(domain: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range itself
  return /^[\x00-\x7f]*$/.test(domain) ? domain : domainToASCII(domain) || domain;
}

/** The DKIM-Signature field (no CRLF), tags in mailauth's order, folded with b= split every 75 characters. */
export function signatureFieldLine(tags: SignatureTags): string {
  const values: SignatureTags = { v: 1, t: Math.round(Date.now() / 1000), q: "dns/txt", ...tags };
  const text = `DKIM-Signature: ${TAG_ORDER.filter((tag) => values[tag] !== undefined)
    .map((tag) => {
      const value = String(values[tag] || "");
      if (tag === "b" && value) return `b=${value}`.replace(/.{75}/g, "$& ").trim();
      return `${tag}=${tag === "d" || tag === "s" ? asciiDomain(value) : value}`;
    })
    .join("; ")}`;
  return libmime.foldLines(text);
}

/**
 * The bytes a DKIM signature covers (relaxed header canonicalization): each signed field, then
 * the DKIM-Signature field itself with an empty b= (written with a placeholder b= first, so it
 * folds as the final field will), and the tags that field carries, b= to be added.
 */
export function canonicalizedHeader(
  lines: SigningHeaderLines,
  tags: Required<Pick<SignatureTags, "a" | "c" | "d" | "s" | "bh">> & { t: number },
): { canonicalized: Buffer; tags: SignatureTags } {
  const signed: SignatureTags = {
    a: tags.a,
    c: tags.c,
    s: tags.s,
    d: tags.d,
    h: lines.keys,
    bh: tags.bh,
    t: tags.t,
  };
  const placeholder = signatureFieldLine({ b: "a".repeat(73), ...signed });
  const chunks = lines.headers.map((field) => relaxedLine(field.line, "\r\n"));
  chunks.push(Buffer.from(withoutSignatureValue(relaxedLine(placeholder).toString("binary")), "binary"));
  return { canonicalized: Buffer.concat(chunks), tags: signed };
}
