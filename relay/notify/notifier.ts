/**
 * The I/O shell for errors found after acceptance: records each in the
 * account's errors list and spools one DSN (relay/notify/dsn.ts) per batch
 * to the addresses the account's `notify` names. The DSN is a message like
 * any other (null sender, same account and route), so it is durable before
 * the original leaves the spool, and it is retried, routed around blocks
 * and expired like any other mail.
 */
import type { Account } from "../accounts/schema.js";
import type { Logger } from "../log/logger.js";
import type { SpooledEnvelope } from "../spool/envelope.js";
import { readHeaderBlock } from "../spool/read.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { Store } from "../store/types.js";
import { buildDsn, type DsnRecipient } from "./dsn.js";
import { noticeRecipients } from "./recipients.js";

/** Why a recipient's mail was not delivered after we accepted it (the errors list `code`). */
export type AfterAcceptanceCode =
  /** A final (5xx) answer from the next hop. */
  | "bounced"
  /** Still deferred at the maximum queue age. */
  | "expired"
  /** On a suppression list (refused by the intake in notify mode). */
  | "suppressed"
  /** The account was over its sending limit (refused by the intake in notify mode). */
  | "over_limit"
  /** The message could not be processed for delivery. */
  | "unparseable"
  /** Copying it was the trouble (too slow, or it kept crashing): it is held in the quarantine. */
  | "quarantined";

export interface Failure {
  code: AfterAcceptanceCode;
  /** One line for the errors list. */
  message: string;
  dsn: DsnRecipient;
}

export interface NotifierOptions {
  spool: Spool;
  store: Store;
  hostname: string;
  newId: () => string;
  logger: Logger;
  /** Hands a spooled notice to the scheduler. */
  onSpooled: (entry: SpoolEntry) => void;
  now?: () => number;
}

const MAX_HEADER_BYTES = 64 * 1024;

export class Notifier {
  private readonly now: () => number;

  constructor(private readonly options: NotifierOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Notifies about `failures` of one message and records them. Throws when the
   * notice could not be spooled (the caller keeps the message and tries again).
   */
  async report(entry: SpoolEntry, account: Account | undefined, failures: readonly Failure[]): Promise<void> {
    if (failures.length === 0) return;
    const { envelope } = entry;
    const notified = noticeRecipients(account, envelope.from);
    if (notified.length > 0) {
      const onlyRefused = failures.every((f) => f.code === "suppressed" || f.code === "over_limit");
      const quarantined = failures.every((f) => f.code === "quarantined");
      const raw = buildDsn({
        reportingMta: this.options.hostname,
        queueId: envelope.id,
        arrivalDate: envelope.receivedAt,
        now: this.now(),
        to: notified,
        subject: quarantined
          ? "Undelivered Mail: message held in quarantine"
          : onlyRefused
            ? "Mail not sent to some recipients"
            : "Undelivered Mail Returned to Sender",
        explanation: quarantined ? explainQuarantine(envelope) : explain(envelope, onlyRefused),
        recipients: failures.map((f) => f.dsn),
        originalHeaders: await readHeaderBlock(entry, MAX_HEADER_BYTES),
      });
      await this.spoolNotice(envelope.account, notified, raw);
    }
    const at = this.now();
    for (const failure of failures) {
      await this.options.store
        .recordError(envelope.account, {
          at,
          code: failure.code,
          message: failure.message,
          messageId: envelope.id,
          recipient: failure.dsn.address,
          notified,
        })
        .catch((error: unknown) =>
          this.options.logger.error(
            { err: error, id: envelope.id },
            "could not record an error after acceptance",
          ),
        );
    }
  }

  private async spoolNotice(account: string, to: string[], raw: Buffer): Promise<void> {
    const envelope: SpooledEnvelope = {
      v: 1,
      id: this.options.newId(),
      account,
      from: "",
      to,
      clientIp: "127.0.0.1",
      heloName: this.options.hostname,
      receivedAt: this.now(),
      listener: "notify",
      transmissionType: "LOCAL",
      refused: [],
    };
    const writer = await this.options.spool.create(envelope);
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stream.once("error", reject);
        writer.stream.write(raw, (error) => (error ? reject(error) : resolve()));
      });
      const spooled = await writer.commit();
      this.options.onSpooled(spooled);
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }
}

function explain(envelope: SpooledEnvelope, onlyRefused: boolean): string {
  const when = new Date(envelope.receivedAt).toISOString();
  return onlyRefused
    ? `Your message ${envelope.id}, accepted at ${when}, was not sent to the recipients below: they are on a suppression list of your account, or the account was over its sending limit.`
    : `Your message ${envelope.id}, accepted at ${when}, could not be delivered to the recipients below. This is a permanent error; no further attempts will be made.`;
}

function explainQuarantine(envelope: SpooledEnvelope): string {
  const when = new Date(envelope.receivedAt).toISOString();
  return `Your message ${envelope.id}, accepted at ${when}, could not be processed for delivery and is held in quarantine; it was not sent to the recipients below, and they were not told. No further attempts will be made unless an administrator releases it.`;
}
