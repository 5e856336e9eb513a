/**
 * Just enough MIME to read a bounce or a complaint: header fields, the
 * content type and its parameters, multipart children and decoded bodies.
 * Pure and bounded (depth, part count): reports come from strangers.
 * Anything it cannot make sense of becomes a leaf with its raw bytes, never
 * an exception; the classifier decides what a leaf is worth.
 */
import libmime from "libmime";
import { decode as decodeQuotedPrintable } from "libqp";

export interface HeaderField {
  /** Lower-cased. */
  name: string;
  /** Unfolded, trimmed. */
  value: string;
}

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

/** Splits a message or part into its header block and body at the first empty line. */
export function splitHeaderBody(raw: Buffer): { header: string; body: Buffer } {
  const crlf = raw.indexOf("\r\n\r\n");
  const lf = raw.indexOf("\n\n");
  const candidates = [crlf >= 0 ? [crlf, 4] : undefined, lf >= 0 ? [lf, 2] : undefined].filter(
    (c): c is number[] => c !== undefined,
  );
  // A part with no empty line at all is all header (RFC 5322 allows an absent body).
  if (candidates.length === 0) return { header: raw.toString("latin1"), body: Buffer.alloc(0) };
  const [at, length] = candidates.sort((a, b) => (a[0] as number) - (b[0] as number))[0] as number[];
  return {
    header: raw.subarray(0, at as number).toString("latin1"),
    body: raw.subarray((at as number) + (length as number)),
  };
}

/** Header fields of a header block (or of a report's field group), unfolded. */
export function parseFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      const last = fields[fields.length - 1] as HeaderField;
      last.value = `${last.value} ${line.trim()}`.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    fields.push({ name, value: line.slice(colon + 1).trim() });
  }
  return fields;
}

export function fieldValue(fields: readonly HeaderField[], name: string): string | undefined {
  return fields.find((field) => field.name === name)?.value;
}

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
  const { header, body } = splitHeaderBody(raw);
  const headers = parseFields(header);
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
