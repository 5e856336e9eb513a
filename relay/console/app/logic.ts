/**
 * The console's decisions, free of the DOM so they can be tested in Node:
 * filters to query strings, a recipient's timeline, time buckets for charts,
 * API field errors to form fields, CSV pages joined into one file.
 */

export interface LogFilter {
  since?: string;
  until?: string;
  rcpt?: string;
  status?: string;
  group?: string;
}

/** The SMTP log's query string: only the filters given; datetime-local values read as local time. */
export function logQuery(filter: LogFilter, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const key of ["since", "until"] as const) {
    const value = filter[key];
    if (value) {
      const ms = Date.parse(value);
      if (Number.isFinite(ms)) params.set(key, String(ms));
    }
  }
  for (const key of ["rcpt", "status", "group"] as const) {
    const value = filter[key]?.trim();
    if (value) params.set(key, value);
  }
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export interface Attempt {
  at: number;
  sender: string;
  sourceIp?: string;
  remoteHost?: string;
  outcome: string;
  responseCode?: number;
  answer: string;
}

export interface TrackingEvent {
  type: string;
  recipient: string;
  at: number;
  ip?: string;
  userAgent?: string;
  country?: string;
  bot?: boolean;
  url?: string;
  detail?: string;
}

export interface TimelineEntry {
  at: number;
  kind: "attempt" | "event";
  label: string;
  detail: string;
  bot: boolean;
}

/**
 * One recipient's attempts and events, oldest first. An attempt's delivered,
 * deferred or bounced outcome is also stored as an event; the attempt says
 * more (sender, IP, answer), so that event is left out.
 */
export function timelineFor(
  recipient: string,
  attempts: Attempt[],
  events: TrackingEvent[],
): TimelineEntry[] {
  const entries: TimelineEntry[] = attempts.map((a) => ({
    at: a.at,
    kind: "attempt",
    label: `attempt: ${a.outcome}`,
    detail: [
      `via ${a.sender}`,
      a.sourceIp ? `from ${a.sourceIp}` : "",
      a.remoteHost ? `to ${a.remoteHost}` : "",
      `answer: ${a.responseCode ? `${a.responseCode} ` : ""}${a.answer}`,
    ]
      .filter(Boolean)
      .join(" · "),
    bot: false,
  }));
  const attemptTimes = new Set(attempts.map((a) => `${a.at}:${a.outcome}`));
  for (const e of events) {
    if (e.recipient.toLowerCase() !== recipient.toLowerCase()) continue;
    if (attemptTimes.has(`${e.at}:${e.type}`)) continue;
    const label = { open: "opened", click: "clicked", unsubscribe: "unsubscribed", complaint: "complained" }[
      e.type
    ];
    entries.push({
      at: e.at,
      kind: "event",
      label: `${label ?? e.type}${e.bot ? " (bot)" : ""}`,
      detail: [
        e.url ? `link ${e.url}` : "",
        e.detail ?? "",
        e.ip ? `IP ${e.ip}` : "",
        e.country ? `country ${e.country}` : "",
        e.userAgent ? `agent ${e.userAgent}` : "",
      ]
        .filter(Boolean)
        .join(" · "),
      bot: e.bot === true,
    });
  }
  return entries.sort((a, b) => a.at - b.at);
}

export interface Bucket {
  since: number;
  until: number;
  label: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * About `count` equal buckets covering `spanMs` up to `end`, oldest first,
 * on whole UTC hours (spans up to two days) or whole UTC days. The API sums
 * stats over whole hours, rounding `since` down and `until` up, so buckets
 * not on hour boundaries would each count their edge hours twice.
 */
export function timeBuckets(end: number, spanMs: number, count: number): Bucket[] {
  const hourly = spanMs <= 2 * DAY_MS;
  const unit = hourly ? HOUR_MS : DAY_MS;
  const size = Math.max(1, Math.round(spanMs / count / unit)) * unit;
  const last = Math.ceil(end / unit) * unit;
  const buckets: Bucket[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const until = last - i * size;
    const since = until - size;
    const iso = new Date(since).toISOString();
    buckets.push({ since, until, label: hourly ? iso.slice(11, 16) : iso.slice(5, 10) });
  }
  return buckets;
}

/**
 * The form field an API issue belongs to: the longest known field that is the
 * issue's path or a prefix of it ("allowedIps.2" → "allowedIps"), else "(form)".
 */
export function fieldForIssue(issueField: string, known: readonly string[]): string {
  let best = "";
  for (const field of known) {
    if ((issueField === field || issueField.startsWith(`${field}.`)) && field.length > best.length)
      best = field;
  }
  return best || "(form)";
}

type Cell = string | number | boolean | null | undefined;

/** Nested objects to dotted keys, arrays to their JSON text: the API's own CSV flattening (relay/api/formats.ts). */
function flatten(row: object, prefix = "", out: Record<string, Cell> = {}): Record<string, Cell> {
  for (const [key, value] of Object.entries(row)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) out[name] = JSON.stringify(value);
    else if (value !== null && typeof value === "object") flatten(value, name, out);
    else out[name] = value as Cell;
  }
  return out;
}

/** A text cell a spreadsheet would run as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** As the API's CSV (relay/api/formats.ts): this file runs in the browser, so it keeps its own copy. */
function csvField(value: Cell): string {
  if (value === undefined || value === null) return "";
  const text = typeof value === "string" && FORMULA_START.test(value) ? `'${value}` : String(value);
  return /[",\r\n\t]/.test(text) || text !== String(value) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Rows from several JSON pages as one CSV file. Built here rather than joining
 * the API's CSV pages because each page's header lists only the columns its
 * own rows have (optional fields come and go).
 */
export function toCsv(rows: readonly object[], preferred: readonly string[]): string {
  const flat = rows.map((row) => flatten(row));
  const columns = new Set(preferred);
  for (const row of flat) for (const key of Object.keys(row)) columns.add(key);
  const lines = [[...columns].map(csvField).join(",")];
  for (const row of flat) lines.push([...columns].map((column) => csvField(row[column])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** Lines of a textarea as a list: trimmed, blanks dropped. */
export function linesOf(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}
