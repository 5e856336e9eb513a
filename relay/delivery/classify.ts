/**
 * What a remote answer means for one recipient: delivered, deferred, bounced,
 * or "this sending IP is blocked here". The rules are data (BLOCK_RULES,
 * UNKNOWN_RECIPIENT_RULES), as zone-mta keeps its bounces.txt, so adding one
 * is adding a line; route tables add their own block patterns at run time.
 */
import type { AttemptOutcome } from "../vocabulary.js";

/** Where in the SMTP dialogue the answer came. */
export type AnswerStage =
  /** TCP connect, TLS, greeting, EHLO/HELO or AUTH. */
  | "connect"
  | "mail"
  | "rcpt"
  | "data"
  /** No remote answer: DNS, a local failure, a timeout before any reply. */
  | "local";

export interface RemoteAnswer {
  /** SMTP reply code; absent for connection errors and local failures. */
  responseCode?: number;
  /** The reply text (or the error text when there was no reply). */
  text: string;
  stage: AnswerStage;
}

export interface Verdict {
  outcome: AttemptOutcome;
  /** A permanent failure that says the mailbox does not exist: the address joins the bounce list. */
  unknownRecipient: boolean;
  /** A 421 (or refused connection) before MAIL FROM: counted towards "repeated 421 on connect". */
  connectRefusal: boolean;
  /** The RFC 3463 status for logs and DSNs: from the answer when it has one, else derived. */
  status: string;
}

/** A rule over a reply's text: a RegExp, or a hand-written scan where a regex would be superlinear. */
export interface TextRule {
  test(text: string): boolean;
}

/**
 * A reply is classified on its first 4 KB: RFC 5321 lines are at most 512 octets and the words
 * that say "blocked" come first, while a next hop may send a multi-line reply of any size.
 */
export const CLASSIFIED_REPLY_CHARS = 4096;

/** What `.` does not match: the rules below hold within one line. */
const LINE_TERMINATORS = /[\n\r\u2028\u2029]/;
const NAMES_OUR_SOURCE = /(sending|client|source) (ip|host) /i;
const REFUSAL_WORDS = /blocked|banned|not allowed|refused/i;

/**
 * "(sending|client|source) (ip|host) .*(blocked|banned|not allowed|refused)", per line. As one
 * regex the ".*" makes it quadratic on a reply that repeats the first words; here each line is
 * searched once for the first words and once, after them, for the refusal.
 */
export const NAMES_OUR_SOURCE_REFUSED: TextRule = {
  test(text: string): boolean {
    for (const line of text.split(LINE_TERMINATORS)) {
      const named = NAMES_OUR_SOURCE.exec(line);
      if (named && REFUSAL_WORDS.test(line.slice(named.index + named[0].length))) return true;
    }
    return false;
  },
};

/** Texts ISPs use when they refuse the sending IP (case-insensitive). */
export const BLOCK_RULES: readonly TextRule[] = [
  /blocked using/i,
  /black ?list(ed)?/i,
  /block ?list(ed)?/i,
  /spamhaus/i,
  /spamcop/i,
  /barracuda/i,
  /poor reputation/i,
  /bad reputation/i,
  /\b(rbl|dnsbl)\b/i,
  /listed (at|on|in|by) /i,
  /ip (address )?(has been |is )?(temporarily )?(blocked|banned|rejected|deferred due to)/i,
  NAMES_OUR_SOURCE_REFUSED,
  // Yahoo: "[TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints".
  /\[TS[S0]?\d\d\]/,
  /messages from [0-9a-f.:]+ (temporarily )?deferred/i,
];

/** 5xx texts that say the mailbox does not exist, for servers that send no enhanced code. */
export const UNKNOWN_RECIPIENT_RULES: readonly TextRule[] = [
  /user unknown/i,
  /unknown user/i,
  /no such (user|mailbox|recipient)/i,
  /mailbox (does not exist|not found|unavailable)/i,
  /recipient (address )?(rejected|unknown|not found)/i,
  /does not exist/i,
];

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;
const IPV4 = /\b(?:\d{1,3}\.){3}\d{1,3}\b/;
// Bracketed only: bare "12:30:45" in a text is a time, not an address.
const IPV6 = /\[(?:ipv6:)?[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:[0-9.]+)?\]/i;

export function enhancedStatus(text: string): string | undefined {
  const match = ENHANCED.exec(text);
  return match ? `${match[1]}.${match[2]}.${match[3]}` : undefined;
}

/** The verdict on a deferral of the relay's own (relay/deferrals.ts): no next hop answered. */
export function localDeferralVerdict(status: string): Verdict {
  return { outcome: "deferred", unknownRecipient: false, connectRefusal: false, status };
}

/**
 * Classifies one answer. `extraBlockPatterns` are the route table's
 * `blocking.patterns` (plain substrings, case-insensitive).
 */
export function classifyAnswer(answer: RemoteAnswer, extraBlockPatterns: readonly string[] = []): Verdict {
  const code = answer.responseCode;
  const text = answer.text.slice(0, CLASSIFIED_REPLY_CHARS);
  const enhanced = enhancedStatus(text);
  if (code !== undefined && code >= 200 && code < 300) {
    return {
      outcome: "delivered",
      unknownRecipient: false,
      connectRefusal: false,
      status: enhanced ?? "2.0.0",
    };
  }
  const permanent = code !== undefined && code >= 500;
  const failureStatus = enhanced ?? (permanent ? "5.0.0" : "4.0.0");
  const beforeMail = answer.stage === "connect";
  if (code !== undefined && isBlockAnswer(text, enhanced, extraBlockPatterns)) {
    return { outcome: "blocked", unknownRecipient: false, connectRefusal: beforeMail, status: failureStatus };
  }
  if (permanent) {
    return {
      outcome: "bounced",
      unknownRecipient: answer.stage !== "connect" && isUnknownRecipient(text, enhanced),
      connectRefusal: false,
      status: failureStatus,
    };
  }
  return {
    outcome: "deferred",
    unknownRecipient: false,
    // A 421 (or 4xx) greeting, or a refused connection, before any transaction.
    connectRefusal: beforeMail && (code === undefined || (code >= 400 && code < 500)),
    status: failureStatus,
  };
}

function isBlockAnswer(text: string, enhanced: string | undefined, extra: readonly string[]): boolean {
  if (BLOCK_RULES.some((rule) => rule.test(text))) return true;
  const lower = text.toLowerCase();
  if (extra.some((pattern) => lower.includes(pattern.toLowerCase()))) return true;
  // "5.7.1 ... [192.0.2.7] ..." : a policy refusal naming our address.
  return enhanced === "5.7.1" && (IPV4.test(text.replace(ENHANCED, "")) || IPV6.test(text));
}

function isUnknownRecipient(text: string, enhanced: string | undefined): boolean {
  if (enhanced) {
    const [klass, subject, detail] = enhanced.split(".").map(Number);
    // 5.1.x is "addressing"; 5.1.7 and 5.1.8 are about the sender, not the recipient.
    if (klass === 5 && subject === 1) return detail !== 7 && detail !== 8;
    return false;
  }
  return UNKNOWN_RECIPIENT_RULES.some((rule) => rule.test(text));
}

/**
 * "Repeated 421 on connect" means blocked: the count of connect refusals for a
 * (sender, domain) within `windowMs` reaching `threshold`. Pure: the caller
 * keeps the times.
 */
export function repeatedConnectRefusal(
  refusalTimes: readonly number[],
  now: number,
  options: { threshold?: number; windowMs?: number } = {},
): boolean {
  const threshold = options.threshold ?? 3;
  const windowMs = options.windowMs ?? 10 * 60_000;
  return refusalTimes.filter((at) => now - at <= windowMs).length >= threshold;
}
