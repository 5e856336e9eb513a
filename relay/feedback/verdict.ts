/**
 * What a report means for the one recipient its return path names, and what
 * the relay does about it. Pure. The kinds are a closed vocabulary:
 *
 *   hard_bounce   permanent, and about the address (RFC 3463 5.1.x but the
 *                 sender codes 5.1.7/5.1.8, 5.2.1 disabled mailbox, or an
 *                 "unknown user" text): bounced event, bounces list, notice
 *   soft_bounce   the message failed, the address may be fine (policy,
 *                 content, full mailbox, a block, 4.x.x given up on):
 *                 bounced event only
 *   delayed       the remote MTA is still trying: deferred event only
 *   complaint     ARF abuse, fraud, virus, other (and unknown types, RFC 5965
 *                 §7.3): complaint event, complaints list, notice
 *   unsubscribe   ARF opt-out types some providers send: unsubscribe event
 *                 and list
 *   ignored       auto-replies, not-spam reports, success DSNs: counted; an
 *                 ARF auth-failure report is also kept for inspection
 *   unparseable   nothing we understand: kept for inspection and counted
 */
import { classifyAnswer } from "../delivery/classify.js";
import type { ReadReport } from "./report.js";

export type FeedbackKind =
  | "hard_bounce"
  | "soft_bounce"
  | "delayed"
  | "complaint"
  | "unsubscribe"
  | "ignored"
  | "unparseable";

export const FEEDBACK_KINDS: readonly FeedbackKind[] = [
  "hard_bounce",
  "soft_bounce",
  "delayed",
  "complaint",
  "unsubscribe",
  "ignored",
  "unparseable",
];

export interface FeedbackVerdict {
  kind: FeedbackKind;
  /** RFC 3463 status when the report had one (bounces). */
  status?: string;
  /** One line for the event's detail, the list's reason and the logs. */
  detail: string;
  remoteMta?: string;
  /** Keep the raw message in the inspection folder. */
  keep: boolean;
}

const COMPLAINT_TYPES = new Set(["abuse", "fraud", "virus", "other"]);
const UNSUBSCRIBE_TYPES = new Set(["opt-out", "opt-out-list", "unsubscribe"]);

/** The verdict for `recipient` (the address the VERP token names), lower-cased. */
export function verdictFor(report: ReadReport, recipient: string): FeedbackVerdict {
  switch (report.kind) {
    case "arf":
      return arfVerdict(report.feedbackType);
    case "dsn": {
      const mine = report.recipients.find((r) => r.addresses.includes(recipient));
      // A VERP address is unique to one copy: whatever the report calls the recipient (forwarding
      // rewrites it), it is about ours. Without a match, the worst group speaks for it.
      const group =
        mine ??
        report.recipients.find((r) => r.action === "failed") ??
        report.recipients.find((r) => r.action === "delayed") ??
        report.recipients[0];
      if (!group)
        return { kind: "unparseable", detail: "a delivery-status report with no recipient", keep: true };
      const base = {
        ...(group.status ? { status: group.status } : {}),
        ...(group.remoteMta ? { remoteMta: group.remoteMta } : {}),
      };
      const detail = oneLine(
        [group.status, group.diagnostic].filter(Boolean).join(" ") || `action ${group.action || "missing"}`,
      );
      if (group.action === "delayed") return { kind: "delayed", ...base, detail, keep: false };
      if (["delivered", "relayed", "expanded"].includes(group.action))
        return { kind: "ignored", ...base, detail: `success report (${group.action})`, keep: false };
      return { kind: failureKind(group.status, group.diagnostic), ...base, detail, keep: false };
    }
    case "prose": {
      const detail = oneLine([report.status, report.diagnostic].filter(Boolean).join(" ") || report.shape);
      const base = report.status ? { status: report.status } : {};
      if (report.delayed) return { kind: "delayed", ...base, detail, keep: false };
      if (!report.permanent) return { kind: "soft_bounce", ...base, detail, keep: false };
      return { kind: failureKind(report.status, report.diagnostic), ...base, detail, keep: false };
    }
    case "auto_reply":
      return { kind: "ignored", detail: `auto-reply (${oneLine(report.why)})`, keep: false };
    case "unknown":
      return { kind: "unparseable", detail: report.why, keep: true };
  }
}

function arfVerdict(feedbackType: string): FeedbackVerdict {
  const detail = `feedback-type ${oneLine(feedbackType, 60)}`;
  if (UNSUBSCRIBE_TYPES.has(feedbackType)) return { kind: "unsubscribe", detail, keep: false };
  if (feedbackType === "not-spam") return { kind: "ignored", detail, keep: false };
  // DMARC/SPF/DKIM failure reports say nothing about the recipient's wishes; an operator may want them.
  if (feedbackType === "auth-failure") return { kind: "ignored", detail, keep: true };
  return {
    kind: "complaint",
    detail: COMPLAINT_TYPES.has(feedbackType) ? detail : `${detail} (as other)`,
    keep: false,
  };
}

/** A failed delivery: hard when it is about the address, soft otherwise. */
function failureKind(
  status: string | undefined,
  diagnostic: string | undefined,
): "hard_bounce" | "soft_bounce" {
  if (status?.startsWith("4")) return "soft_bounce";
  const code = Number(/^\s*([45]\d\d)\b/.exec(diagnostic ?? "")?.[1] ?? 550);
  const verdict = classifyAnswer({
    responseCode: code >= 500 ? code : 550,
    // The Status field wins over whatever the diagnostic text says.
    text: `${status ?? ""} ${(diagnostic ?? "").replace(/\b[245]\.\d{1,3}\.\d{1,3}\b/g, "")}`,
    stage: "rcpt",
  });
  if (verdict.outcome === "blocked") return "soft_bounce";
  if (verdict.unknownRecipient) return "hard_bounce";
  return status === "5.2.1" ? "hard_bounce" : "soft_bounce";
}

function oneLine(text: string, max = 500): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
      .replace(/[\u0000-\u001f\u007f]+/g, " ")
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, max)
  );
}
