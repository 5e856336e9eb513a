/**
 * How a text part's bytes are edited without round-tripping its charset.
 *
 * Edits match and insert ASCII only, so for every ASCII-compatible charset (UTF-8, ISO-8859-*,
 * windows-*, Shift_JIS, GBK, Big5, ...: bytes below 0x40 are never trail bytes) the bytes are
 * viewed as a latin1 string, one char per byte, and written back the same way: untouched bytes
 * stay exactly as they were. ISO-2022-* switch to two-byte sets whose bytes look like ASCII; those
 * runs are masked into the Private Use Area so no pattern can match inside them. Charsets that
 * are not ASCII-compatible at all (UTF-16/32, UTF-7, EBCDIC) are not edited.
 */
import { decode as decodeCharset } from "libmime/lib/charset.js";

export interface CharsetView {
  toWorking(bytes: Buffer): string;
  fromWorking(working: string): Buffer;
  /** Unicode text of the bytes (for generated alternatives); unknown charsets decode as UTF-8. */
  toUnicode(bytes: Buffer): string;
  /** An attribute's raw bytes (latin1 string) as Unicode, or undefined when masked. */
  decodeAttribute(latin1: string): string | undefined;
}

const NOT_ASCII_COMPATIBLE =
  /^(utf-?16|utf-?32|ucs-?2|ucs-?4|utf-?7|unicode-1-1-utf-7|cp0?37|cp500|cp1026|ibm0?37|ebcdic)/i;

export function charsetView(charset: string | false | undefined): CharsetView | undefined {
  const name = (charset || "us-ascii").trim().toLowerCase();
  if (NOT_ASCII_COMPATIBLE.test(name)) return undefined;
  const toUnicode = (bytes: Buffer): string => decodeCharset(bytes, name);
  if (name.startsWith("iso-2022") || name === "csiso2022jp") {
    return {
      toWorking: maskIso2022,
      fromWorking: unmaskIso2022,
      toUnicode,
      decodeAttribute: (latin1) =>
        /[\ue000-\ue0ff]/.test(latin1) ? undefined : toUnicode(unmaskIso2022(latin1)),
    };
  }
  return {
    toWorking: (bytes) => bytes.toString("latin1"),
    fromWorking: (working) => Buffer.from(working, "latin1"),
    toUnicode,
    decodeAttribute: (latin1) => toUnicode(Buffer.from(latin1, "latin1")),
  };
}

const ESC = 0x1b;
const MASK_BASE = 0xe000;

/**
 * ISO-2022: ESC ( B / ESC ( J return to ASCII; any other designation (ESC $ ..., ESC ( I) or SO
 * starts a run whose bytes are masked; SI and each line end return to ASCII (RFC 1468).
 */
function maskIso2022(bytes: Buffer): string {
  let out = "";
  let masked = false;
  let runStart = 0;
  const flush = (end: number) => {
    if (end <= runStart) return;
    const slice = bytes.subarray(runStart, end);
    if (!masked) out += slice.toString("latin1");
    else for (const byte of slice) out += String.fromCharCode(MASK_BASE + byte);
  };
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    let next: boolean | undefined;
    let sequenceLength = 0;
    if (byte === ESC && bytes[i + 1] === 0x28 && (bytes[i + 2] === 0x42 || bytes[i + 2] === 0x4a)) {
      next = false;
      sequenceLength = 3;
    } else if (byte === ESC && (bytes[i + 1] === 0x24 || bytes[i + 1] === 0x28)) {
      next = true;
      sequenceLength = bytes[i + 2] === 0x28 || bytes[i + 2] === 0x29 ? 4 : 3;
    } else if (byte === 0x0e) {
      next = true;
      sequenceLength = 1;
    } else if (byte === 0x0f || byte === 0x0a || byte === 0x0d) {
      next = false;
      sequenceLength = 1;
    }
    if (next === undefined) continue;
    flush(i);
    // The escape sequence itself is ASCII and stays readable (and unmatched by any pattern).
    out += bytes.subarray(i, i + sequenceLength).toString("latin1");
    masked = next;
    i += sequenceLength - 1;
    runStart = i + 1;
  }
  flush(bytes.length);
  return out;
}

function unmaskIso2022(working: string): Buffer {
  const bytes = Buffer.allocUnsafe(working.length);
  for (let i = 0; i < working.length; i++) {
    const code = working.charCodeAt(i);
    bytes[i] = code >= MASK_BASE ? code - MASK_BASE : code;
  }
  return bytes;
}
