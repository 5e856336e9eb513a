/**
 * Telling the account about a hard bounce or a complaint that came back
 * after delivery, as its `notify` says (relay/notify/recipients.ts): a DSN
 * for a bounce (the same RFC 3464 form the relay sends for its own bounces),
 * a short plain-text notice for a complaint. Both leave with the null sender
 * and Auto-Submitted, so nothing answers them, through the spool like any
 * other mail.
 */
import { randomBytes } from "node:crypto";
import type { Account } from "../accounts/schema.js";
import { buildDsn, noticeRecipients, oneLine, rfc5322Date } from "../notify/index.js";
import type { SpooledEnvelope } from "../spool/envelope.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { MessageRecord } from "../vocabulary.js";
import type { FeedbackVerdict } from "./verdict.js";

export interface NoticeInput {
  reportingMta: string;
  record: MessageRecord;
  account: Account | undefined;
  recipient: string;
  verdict: FeedbackVerdict;
  now: number;
}

export interface Notice {
  to: string[];
  raw: Buffer;
}

/** The notice to send, or undefined when the account's `notify` names no one (or the original was itself a notice). */
export function buildNotice(input: NoticeInput): Notice | undefined {
  const { record, account, recipient, verdict, now } = input;
  const to = noticeRecipients(account, record.from);
  if (to.length === 0) return undefined;
  const originalHeaders = Buffer.from(
    [
      `Message-ID: ${oneLine(record.messageIdHeader ?? `<${record.id}@${input.reportingMta}>`)}`,
      ...(record.subject !== undefined ? [`Subject: ${oneLine(record.subject)}`] : []),
      `X-Relay-Message-ID: ${record.id}`,
      "",
    ].join("\r\n"),
  );
  if (verdict.kind === "hard_bounce") {
    const raw = buildDsn({
      reportingMta: input.reportingMta,
      queueId: record.id,
      arrivalDate: record.acceptedAt,
      now,
      to,
      subject: "Undelivered Mail Returned to Sender",
      explanation: `Your message ${record.id}, accepted at ${new Date(record.acceptedAt).toISOString()}, was delivered to the recipient's mail system, which later reported that it could not deliver it to the recipient below. The address is now on the bounce list of account ${record.account}.`,
      recipients: [
        {
          address: recipient,
          action: "failed",
          status: verdict.status ?? "5.0.0",
          diagnostic: { type: "smtp", text: oneLine(verdict.detail) },
          ...(verdict.remoteMta ? { remoteMta: verdict.remoteMta } : {}),
        },
      ],
      originalHeaders,
    });
    return { to, raw };
  }
  if (verdict.kind === "complaint") return { to, raw: complaintNotice(input, to) };
  return undefined;
}

function complaintNotice(input: NoticeInput, to: string[]): Buffer {
  const { record, recipient, verdict, account } = input;
  const stops = account?.bypassComplaints
    ? "The account bypasses the complaints list, so mail to this address is still sent."
    : "No further mail from this account will be sent to this address.";
  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: ${to.join(", ")}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Subject: Complaint about your message ${record.id}`,
    `Message-ID: <${randomBytes(12).toString("hex")}@${input.reportingMta}>`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    `The recipient <${recipient}> of your message ${record.id}`,
    ...(record.subject !== undefined ? [`(Subject: ${oneLine(record.subject, 200)})`] : []),
    `reported it as unwanted through their mailbox provider's feedback loop (${oneLine(verdict.detail, 200)}).`,
    `The address is now on the complaints list of account ${record.account}.`,
    stops,
    "",
  ];
  return Buffer.from(lines.join("\r\n"), "utf8");
}

/** Spools a notice under the account of the original; resolves once it is durable. */
export async function spoolNotice(
  deps: { spool: Spool; newId: () => string; hostname: string; now: number },
  account: string,
  notice: Notice,
): Promise<SpoolEntry> {
  const envelope: SpooledEnvelope = {
    v: 1,
    id: deps.newId(),
    account,
    from: "",
    to: notice.to,
    clientIp: "127.0.0.1",
    heloName: deps.hostname,
    receivedAt: deps.now,
    listener: "notify",
    transmissionType: "LOCAL",
    refused: [],
  };
  const writer = await deps.spool.create(envelope);
  try {
    await new Promise<void>((resolve, reject) => {
      writer.stream.once("error", reject);
      writer.stream.write(notice.raw, (error) => (error ? reject(error) : resolve()));
    });
    return await writer.commit();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
