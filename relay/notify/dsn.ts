/**
 * Delivery status notifications (RFC 3464, multipart/report; RFC 3462) for
 * every error found after acceptance: final bounces, expiry, recipients
 * refused after acceptance (suppressed, over limit) and unparseable
 * messages. Pure: bytes in, bytes out; sent with the null sender (`<>`) and
 * `Auto-Submitted: auto-replied` so no one answers them (RFC 3834).
 */
import { randomBytes } from "node:crypto";

export interface DsnRecipient {
  address: string;
  /** RFC 3464 action; we only report final failures. */
  action: "failed";
  /** RFC 3463 status, e.g. "5.1.1". */
  status: string;
  /** The remote answer ("smtp; 550 ...") or our own reason ("x-relayfleet; ..."). */
  diagnostic?: { type: "smtp" | "x-relayfleet"; text: string };
  remoteMta?: string;
  lastAttemptAt?: number;
}

export interface DsnInput {
  reportingMta: string;
  /** The relay's message ID. */
  queueId: string;
  arrivalDate: number;
  now: number;
  /** Header `To:` of the notice (the envelope recipients are chosen by the caller). */
  to: readonly string[];
  subject: string;
  /** One paragraph for people, before the technical details. */
  explanation: string;
  recipients: readonly DsnRecipient[];
  /** The original message's header block (text/rfc822-headers). */
  originalHeaders: Buffer;
  /** For tests: a fixed MIME boundary. */
  boundary?: string;
}

/** RFC 5322 date in UTC, e.g. "Tue, 01 Apr 2025 10:00:00 +0000". */
export function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, "+0000");
}

/** Text safe inside a header or a delivery-status field: one line, printable. */
export function oneLine(text: string, max = 900): string {
  return (
    text
      .replace(/[\r\n]+/g, " ")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "?")
      .slice(0, max)
  );
}

export function buildDsn(input: DsnInput): Buffer {
  const boundary = input.boundary ?? `=_relayfleet_${randomBytes(12).toString("hex")}`;
  const domain = input.reportingMta;
  const lines: string[] = [
    `From: Mail Delivery System <MAILER-DAEMON@${domain}>`,
    `To: ${input.to.map((a) => `<${oneLine(a, 320)}>`).join(", ")}`,
    `Subject: ${oneLine(input.subject, 200)}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${input.queueId}.${randomBytes(6).toString("hex")}.dsn@${domain}>`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    "",
    "This is a delivery status notification (RFC 3464).",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    input.explanation,
    "",
    ...input.recipients.map(
      (r) => `<${oneLine(r.address, 320)}>: ${oneLine(r.diagnostic?.text ?? `status ${r.status}`)}`,
    ),
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "",
    `Reporting-MTA: dns; ${domain}`,
    `X-Relayfleet-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
  ];
  for (const r of input.recipients) {
    lines.push(
      "",
      `Final-Recipient: rfc822; ${oneLine(r.address, 320)}`,
      `Action: ${r.action}`,
      `Status: ${r.status}`,
    );
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${oneLine(r.remoteMta, 255)}`);
    if (r.diagnostic) lines.push(`Diagnostic-Code: ${r.diagnostic.type}; ${oneLine(r.diagnostic.text)}`);
    if (r.lastAttemptAt !== undefined) lines.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
  }
  lines.push("", `--${boundary}`, "Content-Type: text/rfc822-headers", "Content-Transfer-Encoding: 8bit", "");
  const head = Buffer.from(`${lines.join("\r\n")}\r\n`, "utf8");
  const headers = withCrlfEnding(input.originalHeaders);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return Buffer.concat([head, headers, tail]);
}

/** The header block without its blank line, ending in CRLF. */
function withCrlfEnding(block: Buffer): Buffer {
  let text = block.toString("latin1").replace(/\r?\n/g, "\r\n");
  // Trailing CRLFs dropped by hand: /(\r\n)+$/ retries every CRLF of a block full of them.
  let end = text.length;
  while (end >= 2 && text[end - 2] === "\r" && text[end - 1] === "\n") end -= 2;
  text = text.slice(0, end);
  return Buffer.from(text.length > 0 ? `${text}\r\n` : "", "latin1");
}
