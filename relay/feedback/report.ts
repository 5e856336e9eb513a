/**
 * What came back, read from a parsed message (pure): an RFC 3464 delivery
 * status notification, an RFC 5965 feedback report, a prose bounce in one of
 * the common non-standard shapes, an auto-reply, or nothing we understand.
 */
import { enhancedStatus } from "../delivery/classify.js";
import { fieldValue, type HeaderField, parseFieldGroups } from "../mail/header-fields.js";
import { type MimeEntity, walk } from "./mime.js";

/** One per-recipient group of a delivery-status report. */
export interface DsnRecipientReport {
  /** Final-Recipient, then Original-Recipient, without the "rfc822;" type and brackets; lower-cased. */
  addresses: string[];
  /** failed | delayed | delivered | relayed | expanded (lower-cased); "" when missing. */
  action: string;
  /** RFC 3463 status, e.g. "5.1.1"; from the Status field or the diagnostic. */
  status?: string;
  /** The Diagnostic-Code text without its type ("smtp;"), or the nearest thing to it. */
  diagnostic?: string;
  remoteMta?: string;
}

export type ReadReport =
  | { kind: "dsn"; recipients: DsnRecipientReport[]; reportingMta?: string }
  | {
      kind: "arf";
      /** Lower-cased Feedback-Type; "other" when missing (RFC 5965 §3.1 requires it). */
      feedbackType: string;
      fields: HeaderField[];
    }
  | {
      kind: "prose";
      permanent: boolean;
      delayed: boolean;
      status?: string;
      diagnostic?: string;
      shape: string;
    }
  | { kind: "auto_reply"; why: string }
  | { kind: "unknown"; why: string };

/** Recognisers of prose (non-RFC 3464) bounces, tried in order; data, so adding a shape is adding a line. */
export const PROSE_SHAPES: readonly { shape: string; test: RegExp; permanent: boolean; delayed?: boolean }[] =
  [
    { shape: "qmail", test: /This is the qmail-send program at /, permanent: true },
    {
      shape: "exim",
      test: /This message was created automatically by mail delivery software\./,
      permanent: true,
    },
    {
      shape: "yahoo",
      test: /Sorry, we were unable to deliver your message to the following address/,
      permanent: true,
    },
    {
      shape: "sendmail",
      test: /-{5} The following addresses had permanent fatal errors -{5}/,
      permanent: true,
    },
    {
      shape: "exchange",
      test: /Delivery has failed to these recipients or (groups|distribution lists)/i,
      permanent: true,
    },
    {
      shape: "generic-delay",
      test: /(delivery (is |has been )?delayed|has not yet been delivered|will (continue to )?(try|retry))/i,
      permanent: false,
      delayed: true,
    },
    {
      shape: "generic",
      test: /(could not be delivered|undeliverable|delivery (to the following recipients? )?failed|permanent (fatal )?error|returned to sender)/i,
      permanent: true,
    },
  ];

/** Texts of prose bounces that name no status, with the status they mean. */
export const PROSE_STATUS_RULES: readonly { test: RegExp; status: string }[] = [
  { test: /couldn't find any host (named|by that name)/i, status: "5.1.2" },
  { test: /no mailbox here by that name/i, status: "5.1.1" },
  { test: /(user unknown|unknown user|no such (user|mailbox|recipient)|does not exist)/i, status: "5.1.1" },
  // Yahoo: "554 delivery error: dd This user doesn't have a yahoo.com account".
  { test: /user doesn't have an? \S+ account/i, status: "5.1.1" },
  { test: /(mailbox|quota|disk).{0,30}(full|exceeded)/i, status: "5.2.2" },
];

const BOUNCE_SUBJECT =
  /(undeliver|undelivered mail|delivery status notification|delivery failure|failure notice|returned mail|mail delivery (failed|failure|system)|non-?delivery|delivery (has )?failed|could not be delivered|delivery delayed|warning: could not send)/i;
const BOUNCE_SENDER = /^(.*<)?(mailer-daemon|postmaster|mail delivery (subsystem|system))\b/i;

export function readReport(message: MimeEntity): ReadReport {
  const parts = [...walk(message)];
  const feedback = parts.find((part) => part.type === "message/feedback-report");
  if (feedback) return readArf(feedback);
  const statusParts = parts.filter(
    (part) => part.type === "message/delivery-status" || part.type === "message/global-delivery-status",
  );
  if (statusParts.length > 0) {
    const dsn = readDsn(statusParts);
    if (dsn.recipients.length > 0) return dsn;
  }
  const text = ownText(message);
  const subject = fieldValue(message.headers, "subject") ?? "";
  const from = fieldValue(message.headers, "from") ?? "";
  const looksLikeBounce = BOUNCE_SUBJECT.test(subject) || BOUNCE_SENDER.test(from);
  if (looksLikeBounce) {
    const prose = readProse(text, subject);
    if (prose) return prose;
  }
  const autoReply = autoReplyReason(message.headers, subject);
  if (autoReply) return { kind: "auto_reply", why: autoReply };
  return {
    kind: "unknown",
    why: looksLikeBounce
      ? "a bounce with no status we could find"
      : "neither a DSN, an ARF report nor a known bounce",
  };
}

function readArf(part: MimeEntity): ReadReport {
  // latin1, as every report part is read here: bytes one to one, never a decoding error.
  const fields = parseFieldGroups(part.body.toString("latin1")).flat();
  const feedbackType = (fieldValue(fields, "feedback-type") ?? "other").toLowerCase().trim();
  return { kind: "arf", feedbackType, fields };
}

function readDsn(parts: readonly MimeEntity[]): Extract<ReadReport, { kind: "dsn" }> {
  const recipients: DsnRecipientReport[] = [];
  let reportingMta: string | undefined;
  for (const part of parts) {
    // Field groups are separated by empty lines: the per-message group, then one per recipient.
    const groups = parseFieldGroups(part.body.toString("latin1"));
    for (const fields of groups) {
      reportingMta ??= stripType(fieldValue(fields, "reporting-mta"));
      const addresses = ["final-recipient", "original-recipient"]
        .map((name) => addressOf(fieldValue(fields, name)))
        .filter((address): address is string => address !== undefined);
      const action = (fieldValue(fields, "action") ?? "").toLowerCase().trim();
      if (addresses.length === 0 && !action) continue;
      const diagnostic =
        stripType(fieldValue(fields, "diagnostic-code")) ??
        stripType(fieldValue(fields, "x-supplementary-info"));
      const statusField = /^[245]\.\d{1,3}\.\d{1,3}$/.test((fieldValue(fields, "status") ?? "").trim())
        ? (fieldValue(fields, "status") as string).trim()
        : undefined;
      const status = statusField ?? (diagnostic ? enhancedStatus(diagnostic) : undefined);
      const remoteMta = stripType(fieldValue(fields, "remote-mta"));
      recipients.push({
        addresses,
        action,
        ...(status ? { status } : {}),
        ...(diagnostic ? { diagnostic } : {}),
        ...(remoteMta ? { remoteMta } : {}),
      });
    }
  }
  return { kind: "dsn", recipients, ...(reportingMta ? { reportingMta } : {}) };
}

function readProse(text: string, subject: string): ReadReport | undefined {
  const shape = PROSE_SHAPES.find((candidate) => candidate.test.test(text) || candidate.test.test(subject));
  // qmail (QSBMF) and others: "<address>:" then the remote's words on the next line.
  // The local part stops at the first "@" (it may not hold one unquoted): with "@" allowed on
  // both sides the split point is ambiguous and the match quadratic.
  const diagnostic =
    diagnosticLine(text) ?? /^<[^<>\s@]+@[^<>\s]+>:[ \t]*\r?\n(.+)$/m.exec(text)?.[1]?.trim();
  const status =
    (diagnostic ? enhancedStatus(diagnostic) : undefined) ??
    enhancedStatus(text) ??
    PROSE_STATUS_RULES.find((rule) => rule.test.test(text))?.status;
  if (!shape && !status) return undefined;
  const delayed = shape?.delayed === true || /delay/i.test(subject);
  const permanent = !delayed && (shape?.permanent ?? status?.startsWith("5") ?? false);
  return {
    kind: "prose",
    permanent,
    delayed,
    shape: shape?.shape ?? "unknown",
    ...(status ? { status } : {}),
    ...(diagnostic ? { diagnostic } : {}),
  };
}

/** The first line that reads like a remote SMTP answer ("Remote host said: 550 ...", "550 5.1.1 ..."). */
function diagnosticLine(text: string): string | undefined {
  // Split at every line terminator, so the answer runs to the end of its line without a "$"
  // (".*$" after a code retried at every code is quadratic on a line with a lone CR at its end).
  for (const line of text.split(/\r\n|[\n\r\u2028\u2029]/)) {
    const match = /(?:said:\s*)?\b([45]\d\d)[ -]((?:[45]\.\d{1,3}\.\d{1,3})?.*)/.exec(line);
    if (match && /said:|^\s*[45]\d\d[ -]|\(#[45]\.\d/.test(line)) return `${match[1]} ${match[2]}`.trim();
    const qmail = /\(#([45]\.\d{1,3}\.\d{1,3})\)/.exec(line);
    if (qmail) return line.trim();
  }
  return undefined;
}

/** Text of the message's own parts, not of a returned original (whose body may say anything). */
function ownText(entity: MimeEntity): string {
  if (entity.type.startsWith("message/")) return "";
  if (entity.children.length > 0) return entity.children.map(ownText).join("\n");
  if (entity.type === "text/plain") return entity.body.toString("latin1");
  if (entity.type === "text/html") {
    return withoutTags(entity.body.toString("latin1")).replace(/&nbsp;/g, " ");
  }
  return "";
}

/**
 * Each "<...>" replaced by a space, as `/<[^>]*>/g` did, by hand: that regex retries every "<"
 * to the end of a text that never closes one (900 KB of "<" took minutes). Once no ">" follows,
 * nothing later can close either, so the rest is kept as it is.
 */
export function withoutTags(html: string): string {
  const out: string[] = [];
  let from = 0;
  for (;;) {
    const open = html.indexOf("<", from);
    const close = open === -1 ? -1 : html.indexOf(">", open + 1);
    if (close === -1) break;
    out.push(html.slice(from, open), " ");
    from = close + 1;
  }
  out.push(html.slice(from));
  return out.join("");
}

function autoReplyReason(headers: readonly HeaderField[], subject: string): string | undefined {
  const autoSubmitted = fieldValue(headers, "auto-submitted");
  if (autoSubmitted && !/^no\b/i.test(autoSubmitted)) return `Auto-Submitted: ${autoSubmitted}`;
  for (const name of ["x-autoreply", "x-autorespond"]) if (fieldValue(headers, name)) return name;
  if (/^(auto_reply|auto-reply)$/i.test(fieldValue(headers, "precedence") ?? ""))
    return "Precedence: auto_reply";
  if (/^(auto(matic)?[ -]?(reply|response)|out of (the )?office|autoreply|abwesenheit)/i.test(subject))
    return `Subject: ${subject.slice(0, 80)}`;
  return undefined;
}

function stripType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = value.replace(/^[a-z0-9-]+;\s*/i, "").trim();
  return text || undefined;
}

function addressOf(value: string | undefined): string | undefined {
  const text = stripType(value);
  if (!text) return undefined;
  const address = text.replace(/^<|>$/g, "").trim().toLowerCase();
  return address.includes("@") ? address : undefined;
}
