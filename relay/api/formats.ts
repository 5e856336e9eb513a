/**
 * Every list and stats call answers JSON, CSV or XML (docs/reference/api.md).
 * Pure: negotiation and serialisation only.
 *
 * - JSON is the natural shape: a list is `{items, nextCursor?}`, stats an object.
 * - CSV (RFC 4180): a header row, CRLF line ends, fields quoted when they hold a
 *   comma, quote, CR or LF, quotes doubled. Nested objects become dotted columns
 *   (`limits.perHour`); arrays become one cell holding their JSON.
 * - XML: well-formed 1.0, one element per row under a root element; nested
 *   objects are child elements, arrays repeat `<item>`. Characters XML 1.0 cannot
 *   carry (most C0 controls, lone surrogates) are replaced with U+FFFD.
 * The next page's cursor travels in the `x-next-cursor` header for every format,
 * and in the body where the format has room (JSON field, XML root attribute).
 */

export type Format = "json" | "csv" | "xml";

export const CONTENT_TYPES: Record<Format, string> = {
  json: "application/json; charset=utf-8",
  csv: "text/csv; charset=utf-8; header=present",
  xml: "application/xml; charset=utf-8",
};

const MEDIA_TYPES: Record<string, Format> = {
  "application/json": "json",
  "text/json": "json",
  "text/csv": "csv",
  "application/csv": "csv",
  "application/xml": "xml",
  "text/xml": "xml",
};

/**
 * `?format=` wins; then the Accept header, by q-value then order; JSON when
 * nothing is asked for or `*\/*` is acceptable. Undefined: nothing we can serve (406).
 * Not `negotiator`: not a dependency, and three types with a ?format= override need only this.
 */
export function negotiateFormat(formatParam: string | null, accept: string | undefined): Format | undefined {
  if (formatParam !== null) {
    const wanted = formatParam.toLowerCase();
    return wanted === "json" || wanted === "csv" || wanted === "xml" ? wanted : undefined;
  }
  if (!accept || accept.trim() === "") return "json";
  const ranges = accept
    .split(",")
    .map((part, order) => {
      const [type = "", ...params] = part.split(";").map((p) => p.trim().toLowerCase());
      const q = params.find((p) => p.startsWith("q="));
      return { type, q: q ? Number(q.slice(2)) : 1, order };
    })
    .filter((range) => Number.isFinite(range.q) && range.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const range of ranges) {
    if (range.type === "*/*" || range.type === "application/*") return "json";
    const format = MEDIA_TYPES[range.type];
    if (format) return format;
    if (range.type === "text/*") return "csv";
  }
  return undefined;
}

export type Cell = string | number | boolean | null | undefined;
/** Any plain object (interfaces have no index signature, so not Record<string, unknown>). */
export type Row = object;

/** Nested objects to dotted keys; arrays to their JSON text. */
export function flattenRow(row: Row, prefix = "", out: Record<string, Cell> = {}): Record<string, Cell> {
  for (const [key, value] of Object.entries(row)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) out[name] = JSON.stringify(value);
    else if (value !== null && typeof value === "object") flattenRow(value, name, out);
    else out[name] = value as Cell;
  }
  return out;
}

/** Columns in first-seen order over all rows, after `preferred` (so an empty list still has a header). */
export function columnsOf(
  rows: readonly Record<string, Cell>[],
  preferred: readonly string[] = [],
): string[] {
  const seen = new Set(preferred);
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

/** A text cell a spreadsheet would run as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvField(value: Cell): string {
  if (value === undefined || value === null) return "";
  // Subjects, addresses and answers come from senders and remote servers: a text starting like a
  // formula gets a leading apostrophe, so opening the export runs nothing. Numbers stay numbers.
  const text = typeof value === "string" && FORMULA_START.test(value) ? `'${value}` : String(value);
  return /[",\r\n\t]/.test(text) || text !== String(value) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rows: readonly Row[], preferredColumns: readonly string[] = []): string {
  const flat = rows.map((row) => flattenRow(row));
  const columns = columnsOf(flat, preferredColumns);
  const lines = [columns.map(csvField).join(",")];
  for (const row of flat) lines.push(columns.map((column) => csvField(row[column])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** XML 1.0 Char production: TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlText(value: string): string {
  return value
    .replace(NOT_XML_CHAR, "\uFFFD")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** Our field names are already XML names; this keeps a stray key from breaking the document. */
function xmlName(key: string): string {
  const cleaned = key.replace(/[^A-Za-z0-9_.-]/g, "_");
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `_${cleaned}`;
}

function xmlValue(name: string, value: unknown, indent: string): string {
  const tag = xmlName(name);
  if (value === undefined) return "";
  if (value === null) return `${indent}<${tag}/>\n`;
  if (Array.isArray(value)) {
    const items = value.map((item) => xmlValue("item", item, `${indent}  `)).join("");
    return items ? `${indent}<${tag}>\n${items}${indent}</${tag}>\n` : `${indent}<${tag}/>\n`;
  }
  if (typeof value === "object") {
    const children = Object.entries(value)
      .map(([key, child]) => xmlValue(key, child, `${indent}  `))
      .join("");
    return children ? `${indent}<${tag}>\n${children}${indent}</${tag}>\n` : `${indent}<${tag}/>\n`;
  }
  return `${indent}<${tag}>${xmlText(String(value))}</${tag}>\n`;
}

export function toXml(root: string, rowName: string, rows: readonly Row[], nextCursor?: string): string {
  const attribute = nextCursor ? ` nextCursor="${xmlText(nextCursor)}"` : "";
  const body = rows.map((row) => xmlValue(rowName, row, "  ")).join("");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${xmlName(root)}${attribute}>\n${body}</${xmlName(root)}>\n`;
}
