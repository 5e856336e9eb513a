/**
 * docs/reference/smtp-replies.md: every SMTP refusal the relay sends, from the
 * one error vocabulary (relay/errors.ts) and the texts the source gives each
 * code, plus the few replies written outside it.
 */
import { RELAY_ERRORS, type RelayErrorCode } from "../../relay/errors.js";
import { code, GENERATED_NOTE, table } from "./markdown.js";
import { type SourceFile, sourceFiles, stringLiteralAt } from "./source.js";

/** When each refusal is sent; a code added to RELAY_ERRORS without a line here does not typecheck. */
const WHEN: Record<RelayErrorCode, string> = {
  relay_denied:
    "MAIL FROM or RCPT TO from a session with no AUTH, no account allowedIps match and no allowed From",
  from_not_allowed: "End of DATA: the header From is missing, or not in the account's allowedFrom",
  auth_failed: "AUTH with a wrong username or password",
  auth_rate_limited:
    "AUTH after intake.maxAuthFailuresPerConnection failures on the connection, or intake.maxAuthFailuresPerIp from the client in 15 minutes; the connection is closed",
  tls_required: "AUTH before STARTTLS on a listener that is not loopback (docs/configuration.md, TLS)",
  auth_user_rate_limited:
    "AUTH as a username with intake.maxAuthFailuresPerUsername failures in 15 minutes, from anywhere; the connection stays open",
  report_rate_limited:
    "RCPT at the bounce domain past feedback.maxReportsPerIpPerMinute from one client (sessions without AUTH)",
  feedback_busy: "DATA of a report while feedback.maxConcurrentReports are being received",
  suppressed: "RCPT of an address on the account's suppression lists, for accounts with suppression: reject",
  over_limit: "RCPT past the account's hourly, daily or monthly limit, for accounts with suppression: reject",
  too_many_recipients:
    "RCPT past intake.maxRecipients, or a bounce-domain recipient mixed with others in one transaction",
  too_many_connections:
    "A new connection past intake.maxConnectionsPerIp from one client; the connection is closed",
  too_large: "DATA past maxMessageBytes (a report past feedback.maxBytes)",
  header_too_large: "A header block past the intake's header size limit",
  too_many_hops: "More Received: headers than the intake allows (a mail loop)",
  smuggling: "A bare CR or LF around a '.' line in DATA (SMTP smuggling; docs/intake.md)",
  nul: "A NUL character in DATA",
  bad_header: "An X-Relay-Group header that is not 1-128 letters, digits, spaces or ._:@/+-",
  bad_address: "MAIL FROM or RCPT TO with an address the relay will not carry",
  slow_client:
    "DATA slower than intake.minDataRate after intake.dataRateGraceSeconds; the connection is closed",
  session_too_long: "A session older than intake.sessionTimeoutSeconds; the connection is closed",
  disk_full:
    "MAIL FROM or DATA with the spool volume below intake.minFreeBytes, or a write failing for space",
  spool_error: "DATA when writing or syncing the spool (or a received report) fails",
  store_unavailable: "Any command that needs the Store (Redis) while it cannot be reached",
  bad_bounce_address: "RCPT at the bounce domain without a valid return-path token or feedback loop address",
  draining:
    "A connection, or a command, while the relay is draining or shutting down; the connection is closed",
};

/** Replies written outside RELAY_ERRORS (relay/intake/server.ts, smtp-compat.ts, transaction.ts). */
const OTHER_REPLIES: readonly [reply: string, text: string, when: string][] = [
  ["250 2.0.0", "Ok: queued as ID", "End of DATA: the message is in the spool, fsynced"],
  [
    "421 4.3.2",
    "HOSTNAME is shutting down, try later",
    "Sessions still open when the relay stops; the connection is closed",
  ],
  [
    "421",
    "HOSTNAME Too many connected clients, try again in a moment",
    "A new connection past intake.maxConnections; the connection is closed",
  ],
];

/** `this.refuse("code", "text")`, `new RelayError("code", \`text\`)`, `this.fail("code", ...)`. */
const REFUSAL_CALL = /\b(?:RelayError|refuse|fail)\(\s*"([a-z_]+)",\s*/g;

/** The texts each code is sent with in the source, `${...}` shown as `…`. */
export function refusalTexts(files: readonly SourceFile[]): Map<string, Set<string>> {
  const texts = new Map<string, Set<string>>();
  for (const file of files)
    for (const match of file.text.matchAll(REFUSAL_CALL)) {
      const name = match[1] ?? "";
      const literal = stringLiteralAt(file.text, match.index + match[0].length);
      if (literal === undefined || !(name in RELAY_ERRORS)) continue;
      const set = texts.get(name) ?? new Set<string>();
      set.add(literal.replace(/\$\{[^}]*\}/g, "…"));
      texts.set(name, set);
    }
  return texts;
}

/**
 * Reply codes written in the source: "550 5.7.1"-style literals (in strings and comments) and
 * `send(421, "4.3.2 ...")` pairs. A linear scan, so a reply added anywhere shows up here.
 */
export function repliesInSource(files: readonly SourceFile[]): Set<string> {
  const replies = new Set<string>();
  for (const file of files) {
    for (const match of file.text.matchAll(/\b[45]\d\d [245]\.\d{1,3}\.\d{1,3}\b/g)) replies.add(match[0]);
    for (const match of file.text.matchAll(/\bsend\((\d{3}),\s*["'`]([245]\.\d{1,3}\.\d{1,3})\b/g))
      replies.add(`${match[1]} ${match[2]}`);
  }
  return replies;
}

export function smtpRepliesReference(): string {
  const texts = refusalTexts(sourceFiles(["relay"]));
  const rows = Object.entries(RELAY_ERRORS).map(([name, spec]) => [
    code(`${spec.responseCode} ${spec.enhancedCode}`),
    code(name),
    spec.temporary ? "temporary" : "permanent",
    [...(texts.get(name) ?? [])].join(" / "),
    WHEN[name as RelayErrorCode],
  ]);
  return `# SMTP replies

${GENERATED_NOTE}

Every refusal the relay's SMTP intake (and its bounce-domain receiver) sends has a code in
\`relay/errors.ts\`, with its reply code and enhanced status code (RFC 3463); the enhanced
code leads the text. Metrics count refusals by these names
(\`relayfleet_smtp_rejections_total{reason}\`). A temporary (4xx) refusal asks the client
to try again later; a permanent (5xx) one not to. Replies smtp-server itself sends to
syntax errors and out-of-order commands (500, 501, 503) are the library's.

${table(["reply", "code", "kind", "text", "when"], rows)}

Replies written outside the vocabulary:

${table(
  ["reply", "text", "when"],
  OTHER_REPLIES.map(([reply, text, when]) => [code(reply), text, when]),
)}
`;
}
