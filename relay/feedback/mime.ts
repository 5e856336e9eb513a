/**
 * Just enough MIME to read a bounce or a complaint: header fields, the
 * content type and its parameters, multipart children and decoded bodies.
 * Pure and bounded (depth, part count): reports come from strangers.
 * Anything it cannot make sense of becomes a leaf with its raw bytes, never
 * an exception; the classifier decides what a leaf is worth.
 */
import libmime from "libmime";
import { decode as decodeQuotedPrintable } from "libqp";
import { fieldValue, type HeaderField, parseHeaderFields, splitHeaderBody } from "../mail/header-fields.js";

export interface MimeEntity {
  headers: HeaderField[];
  /** Lower-cased type/subtype; "text/plain" when absent (RFC 2045 §5.2). */
  type: string;
  /** Lower-cased parameter names. */
  params: Record<string, string>;
  /** Transfer-decoded body (for multiparts: the raw body). */
  body: Buffer;
  children: MimeEntity[];
}

export const MIME_LIMITS = { maxDepth: 8, maxParts: 200 } as const;

/**
 * "type/subtype; a=b; c="d"" → type and lower-cased parameter names (libmime: quoting, comments,
 * RFC 2231 continuations and charsets).
 */
export function parseContentType(value: string | undefined): {
  type: string;
  params: Record<string, string>;
} {
  if (!value) return { type: "text/plain", params: {} };
  const parsed = libmime.parseHeaderValue(value);
  const type = parsed.value.trim().toLowerCase();
  const params: Record<string, string> = {};
  for (const [name, param] of Object.entries(parsed.params)) if (name !== "") params[name] = String(param);
  return { type: /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : "text/plain", params };
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? "").trim().toLowerCase()) {
    case "base64":
      return Buffer.from(body.toString("latin1").replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
    case "quoted-printable":
      return decodeQuotedPrintable(body.toString("latin1"));
    default:
      return body;
  }
}

/** Parses a message into a tree of entities (message/rfc822 children are parsed too). */
export function parseMime(raw: Buffer): MimeEntity {
  const budget = { parts: 0 };
  return parseEntity(raw, 0, budget);
}

function parseEntity(raw: Buffer, depth: number, budget: { parts: number }): MimeEntity {
  budget.parts++;
  // latin1: bytes one to one, so the body starts at the same offset in the bytes.
  const { header, bodyStart } = splitHeaderBody(raw.toString("latin1"));
  const headers = parseHeaderFields(header);
  const body = raw.subarray(bodyStart);
  const { type, params } = parseContentType(fieldValue(headers, "content-type"));
  const entity: MimeEntity = { headers, type, params, body, children: [] };
  const deeper = depth + 1 < MIME_LIMITS.maxDepth;
  if (type.startsWith("multipart/") && params.boundary && deeper) {
    for (const part of splitMultipart(body, params.boundary)) {
      if (budget.parts >= MIME_LIMITS.maxParts) break;
      entity.children.push(parseEntity(part, depth + 1, budget));
    }
    return entity;
  }
  entity.body = decodeBody(body, fieldValue(headers, "content-transfer-encoding"));
  if (
    (type === "message/rfc822" || type === "message/global") &&
    deeper &&
    budget.parts < MIME_LIMITS.maxParts
  ) {
    entity.children.push(parseEntity(entity.body, depth + 1, budget));
  }
  return entity;
}

/**
 * The parts between "--boundary" lines (an unterminated last part still counts). Not mailsplit: it
 * streams (async, per chunk) where this reads a report already whole in memory, synchronously and
 * within MIME_LIMITS, which mailsplit does not bound.
 */
function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const text = body.toString("latin1");
  const delimiter = `--${boundary}`;
  const parts: Buffer[] = [];
  const lines = text.split(/(?<=\n)/);
  let current: string[] | undefined;
  for (const line of lines) {
    const bare = withoutLineEnd(line);
    if (bare === delimiter || bare === `${delimiter}--`) {
      if (current) parts.push(Buffer.from(current.join("").replace(/\r?\n$/, ""), "latin1"));
      current = bare === delimiter ? [] : undefined;
      if (bare !== delimiter) break;
      continue;
    }
    current?.push(line);
  }
  if (current && current.length > 0) parts.push(Buffer.from(current.join(""), "latin1"));
  return parts;
}

/**
 * A line without its LF, CR and trailing blanks (what `/[ \t]*\r?\n$/` removed, by hand: that
 * regex is quadratic on a long run of blanks). A line without an LF is returned as it is.
 */
export function withoutLineEnd(line: string): string {
  if (!line.endsWith("\n")) return line;
  let end = line.length - 1;
  if (line[end - 1] === "\r") end--;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  return line.slice(0, end);
}

/** Every entity of the tree, depth first. */
export function* walk(entity: MimeEntity): Generator<MimeEntity> {
  yield entity;
  for (const child of entity.children) yield* walk(child);
}
