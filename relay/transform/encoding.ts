/**
 * Content-Transfer-Encoding, strictly: a body that does not decode cleanly is reported, never
 * "repaired" and re-encoded lossily (that would change what the sender wrote).
 */
import { decode as decodeBase64, encode as encodeBase64, wrap as wrapBase64 } from "libbase64";
import { decode as decodeQp, encode as encodeQp, wrap as wrapQp } from "libqp";

export type TransferEncoding = "7bit" | "8bit" | "binary" | "base64" | "quoted-printable";

export type UndecodableReason =
  /** Characters outside the base64 alphabet, or a length that is not a whole number of quanta. */
  | "undecodable-base64"
  /** "=" not followed by two hex digits or a line break. */
  | "undecodable-quoted-printable"
  /** x-uuencode, x-token, ...: left as is. */
  | "unknown-transfer-encoding";

/** "" (absent) means 7bit (RFC 2045 §6.1). */
export function transferEncodingOf(header: string): TransferEncoding | undefined {
  const value = header || "7bit";
  return (["7bit", "8bit", "binary", "base64", "quoted-printable"] as const).find((name) => name === value);
}

export function decodeBody(
  body: Buffer,
  encoding: TransferEncoding,
): { ok: true; bytes: Buffer } | { ok: false; reason: UndecodableReason } {
  if (encoding === "base64") {
    const compact = body.toString("latin1").replace(/[\r\n\t ]+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
      return { ok: false, reason: "undecodable-base64" };
    }
    return { ok: true, bytes: decodeBase64(compact) };
  }
  if (encoding === "quoted-printable") {
    const text = body.toString("latin1");
    if (/=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*$)/.test(text))
      return { ok: false, reason: "undecodable-quoted-printable" };
    return { ok: true, bytes: decodeQp(body) };
  }
  return { ok: true, bytes: body };
}

export const MAX_LINE_OCTETS = 998;

/**
 * Encodes edited content. `endsWithBreak` says whether the original encoded body ended with a
 * line break: in a multipart, the break before the delimiter belongs to the delimiter and must
 * not be doubled.
 */
export function encodeBody(content: Buffer, encoding: TransferEncoding, endsWithBreak: boolean): Buffer {
  let text: string;
  if (encoding === "base64") {
    text = wrapBase64(encodeBase64(content), 76);
  } else if (encoding === "quoted-printable") {
    // Text line breaks are CRLF on the wire; a lone CR or LF would be a stray one (row 2).
    const canonical = Buffer.from(content.toString("latin1").replace(/\r\n|\r|\n/g, "\r\n"), "latin1");
    text = wrapQp(encodeQp(canonical), 76);
  } else {
    return withFinalBreak(content, endsWithBreak);
  }
  return withFinalBreak(Buffer.from(text, "latin1"), endsWithBreak);
}

function withFinalBreak(bytes: Buffer, endsWithBreak: boolean): Buffer {
  const has = bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a;
  if (has === endsWithBreak) return bytes;
  if (endsWithBreak) return Buffer.concat([bytes, Buffer.from("\r\n")]);
  return bytes.subarray(0, bytes.length - 2);
}
