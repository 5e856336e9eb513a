/**
 * The I/O shell of the feedback loop: the intake hands it every transaction
 * addressed to the bounce domain. It reads the message (bounded), finds the
 * message and recipient the return path names, reads the report, and
 * records what it means: events (stats and webhooks follow from the Store),
 * suppression lists, the account's errors list and notice. Everything is done
 * before the 250, so a failure answers 4xx and the sender's MTA keeps the
 * report and retries: nothing is acknowledged and then lost.
 */
import type { Readable } from "node:stream";
import { Counter, Gauge, type Registry } from "prom-client";
import { RelayError } from "../errors.js";
import { clientKey } from "../limits/client-key.js";
import { WindowCounter } from "../limits/window-counter.js";
import type { Logger } from "../log/logger.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { Store } from "../store/types.js";
import { verifyToken } from "../tracking/token.js";
import type { MessageRecord, NewEvent, SuppressionList } from "../vocabulary.js";
import {
  bufferReport,
  IncomingBusyError,
  type IncomingReports,
  PARSE_HEAD_BYTES,
  type ReceivedReport,
} from "./incoming.js";
import type { InspectionFolder } from "./inspection.js";
import { parseMime } from "./mime.js";
import { buildNotice, spoolNotice } from "./notice.js";
import { type ReadReport, readReport } from "./report.js";
import { FEEDBACK_KINDS, type FeedbackKind, type FeedbackVerdict, verdictFor } from "./verdict.js";
import { atBounceDomain, findVerpClaims, readVerpAddress, recipientHash, type VerpSettings } from "./verp.js";

export interface FeedbackSettings extends VerpSettings {
  /** Local parts at the bounce domain taken without a token (ISP feedback-loop registrations), lower-cased. */
  loopAddresses: readonly string[];
  /** Larger reports are refused with 552. */
  maxBytes: number;
  /** Reports taken per client (an IPv6 /64 is one) per minute from sessions without AUTH. */
  maxReportsPerIpPerMinute: number;
}

/** A report as the receiver reads it: from its file, or from memory (process()). */
type ReportSource = Omit<ReceivedReport, "path" | "discard">;

/** Clients whose report counts a relay remembers; past it the least recently seen are forgotten. */
const REPORT_RATE_KEYS = 50_000;

/** What the intake calls (relay/intake/transaction.ts). */
export interface FeedbackIntake {
  handles(address: string): boolean;
  /** Why RCPT TO this bounce-domain address is refused; undefined when it is taken. */
  refusal(address: string): string | undefined;
  /** Counts a report from this client; false past the per-client rate (RCPT then answers 450 4.7.0). */
  admit(clientIp: string): boolean;
  /** Reads and acts on one message; resolves with the 250 text, or throws a RelayError. */
  receive(stream: Readable & { sizeExceeded?: boolean }, envelope: FeedbackEnvelope): Promise<string>;
}

export interface FeedbackEnvelope {
  from: string;
  to: string[];
  clientIp: string;
}

export interface FeedbackOptions {
  settings: FeedbackSettings;
  store: Store;
  spool: Spool;
  inspection: InspectionFolder;
  /** Where reports are written while they arrive. */
  incoming: IncomingReports;
  /** Reporting MTA of notices. */
  hostname: string;
  newId: () => string;
  /** Hands a spooled notice to the scheduler. */
  onSpooled: (entry: SpoolEntry) => void;
  registry: Registry;
  logger: Logger;
  now?: () => number;
}

/** One (message, recipient) a report is about. */
interface Target {
  messageId: string;
  recipientHash?: Buffer;
  recipient?: string;
}

export interface FeedbackOutcome {
  kind: FeedbackKind;
  messageId?: string;
  recipient?: string;
  detail: string;
  kept?: string;
}

export class FeedbackReceiver implements FeedbackIntake {
  private readonly now: () => number;
  private readonly received: Counter<"kind">;
  private readonly keptFiles: Gauge;
  private readonly log: Logger;
  private readonly reportsByClient = new WindowCounter({ windowMs: 60_000, maxKeys: REPORT_RATE_KEYS });

  constructor(private readonly options: FeedbackOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ component: "feedback" });
    const registers = [options.registry];
    this.received = new Counter({
      name: "relayfleet_feedback_received_total",
      help: "Bounces and complaints received at the bounce domain, by what they meant (unparseable: kept for inspection)",
      labelNames: ["kind"] as const,
      registers,
    });
    for (const kind of FEEDBACK_KINDS) this.received.inc({ kind }, 0);
    const inspection = options.inspection;
    this.keptFiles = new Gauge({
      name: "relayfleet_feedback_kept_files",
      help: "Messages waiting in the feedback inspection folder",
      registers,
      collect() {
        this.set(inspection.files);
      },
    });
    new Gauge({
      name: "relayfleet_feedback_kept_bytes",
      help: "Bytes in the feedback inspection folder (capped by feedback.maxKeptBytes)",
      registers,
      collect() {
        this.set(inspection.bytes);
      },
    });
  }

  /** Stops the inspection folder's sweeps. */
  close(): void {
    this.options.inspection.close();
  }

  handles(address: string): boolean {
    return atBounceDomain(this.options.settings, address);
  }

  refusal(address: string): string | undefined {
    if (this.isLoopAddress(address)) return undefined;
    if (readVerpAddress(this.options.settings, address)) return undefined;
    return `No such bounce address <${address}>`;
  }

  admit(clientIp: string): boolean {
    return this.reportsByClient.take(
      clientKey(clientIp),
      this.options.settings.maxReportsPerIpPerMinute,
      this.now(),
    );
  }

  async receive(stream: Readable & { sizeExceeded?: boolean }, envelope: FeedbackEnvelope): Promise<string> {
    const received = await this.options.incoming
      .receive(stream, this.options.settings.maxBytes)
      .catch((error: unknown) => {
        if (error instanceof IncomingBusyError)
          throw new RelayError("feedback_busy", "Too many reports in progress, try again later");
        this.log.warn({ err: error }, "could not receive a feedback message");
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOSPC" || code === "EDQUOT")
          throw new RelayError("disk_full", "Insufficient system storage, try again later");
        throw new RelayError("spool_error", "Local error in processing, try again later");
      });
    try {
      if (received.tooLarge || stream.sizeExceeded) throw new RelayError("too_large", "Report too large");
      const outcomes = await this.processSource(received, envelope);
      for (const outcome of outcomes) {
        this.received.inc({ kind: outcome.kind });
        this.log.info(outcome, "feedback received");
      }
      return `2.0.0 Ok: feedback received (${outcomes.map((o) => o.kind).join(", ")})`;
    } finally {
      await received.discard();
    }
  }

  /** Everything but the SMTP stream: exported for tests that feed it bytes directly. */
  process(raw: Buffer, envelope: FeedbackEnvelope): Promise<FeedbackOutcome[]> {
    return this.processSource(bufferReport(raw), envelope);
  }

  private async processSource(raw: ReportSource, envelope: FeedbackEnvelope): Promise<FeedbackOutcome[]> {
    let report: ReadReport;
    try {
      report = readReport(parseMime(await raw.head(PARSE_HEAD_BYTES)));
    } catch (error) {
      report = { kind: "unknown", why: `could not be parsed (${(error as Error).message})` };
    }
    const targets = await this.targets(raw, envelope);
    if (targets.length === 0) {
      const verdict = verdictFor(report, "");
      const reason = `no valid token names the message (${verdict.kind}: ${verdict.detail})`;
      return [await this.keep(raw, envelope, { kind: "unparseable", detail: reason, keep: true })];
    }
    const outcomes: FeedbackOutcome[] = [];
    for (const target of targets) outcomes.push(await this.apply(raw, envelope, report, target));
    return outcomes;
  }

  private isLoopAddress(address: string): boolean {
    const at = address.lastIndexOf("@");
    return (
      this.handles(address) &&
      this.options.settings.loopAddresses.includes(address.slice(0, at).toLowerCase())
    );
  }

  /** The return path's token for VERP recipients; for feedback-loop addresses, tokens found in the report. */
  private async targets(raw: ReportSource, envelope: FeedbackEnvelope): Promise<Target[]> {
    const { settings } = this.options;
    const targets: Target[] = [];
    const add = (target: Target) => {
      const same = targets.find(
        (t) =>
          t.messageId === target.messageId &&
          (t.recipient === target.recipient ||
            (t.recipientHash && target.recipientHash && t.recipientHash.equals(target.recipientHash))),
      );
      if (!same) targets.push(target);
    };
    let searchContent = false;
    for (const address of envelope.to) {
      const claim = readVerpAddress(settings, address);
      if (claim) add({ messageId: claim.messageId, recipientHash: claim.recipientHash });
      else if (this.isLoopAddress(address)) searchContent = true;
    }
    if (searchContent && targets.length === 0) {
      // Read in overlapping pieces (relay/feedback/incoming.ts): a token is found whole once at least.
      const unsubscribes: Target[] = [];
      for await (const piece of raw.texts()) {
        const text = piece.replace(/=\r?\n/g, "");
        for (const claim of findVerpClaims(settings, text))
          add({ messageId: claim.messageId, recipientHash: claim.recipientHash });
        // The copy's List-Unsubscribe link carries a signed tracking token naming message and recipient.
        for (const match of text.matchAll(/\/u\/([A-Za-z0-9_-]{40,})/g)) {
          const token = verifyToken(settings.keys, match[1] as string);
          if (token)
            unsubscribes.push({ messageId: token.messageId, recipient: token.recipient.toLowerCase() });
        }
      }
      // VERP claims speak for the report when there are any; unsubscribe tokens only otherwise.
      if (targets.length === 0) for (const target of unsubscribes) add(target);
    }
    return targets;
  }

  private async apply(
    raw: ReportSource,
    envelope: FeedbackEnvelope,
    report: ReadReport,
    target: Target,
  ): Promise<FeedbackOutcome> {
    const { store } = this.options;
    const record = await store.getMessage(target.messageId).catch((error: unknown) => {
      throw storeFailure(error);
    });
    const recipient = record && findRecipient(record, target);
    if (!record || !recipient) {
      const why = record ? "the recipient is not on the message" : "the message is unknown (past retention?)";
      return this.keep(raw, envelope, { kind: "unparseable", detail: why, keep: true }, target.messageId);
    }
    const verdict = verdictFor(report, recipient);
    const at = this.now();
    const base = { messageId: record.id, recipient, detail: verdict.detail };
    try {
      switch (verdict.kind) {
        case "hard_bounce":
          await this.event(record, recipient, "bounced", verdict, at);
          await this.suppress(record, recipient, "bounces", verdict, at);
          await this.tell(record, recipient, verdict, "bounced", at);
          break;
        case "soft_bounce":
          await this.event(record, recipient, "bounced", verdict, at);
          break;
        case "delayed":
          await this.event(record, recipient, "deferred", verdict, at);
          break;
        case "complaint":
          await this.event(record, recipient, "complaint", verdict, at);
          await this.suppress(record, recipient, "complaints", verdict, at);
          await this.tell(record, recipient, verdict, "complaint", at);
          break;
        case "unsubscribe":
          await this.event(record, recipient, "unsubscribe", verdict, at);
          await this.suppress(record, recipient, "unsubscribes", verdict, at);
          break;
        case "ignored":
        case "unparseable":
          break;
      }
      if (verdict.kind === "unparseable") {
        await store.recordError(record.account, {
          at,
          code: "unparseable_feedback",
          message: `A reply to the return path of this message could not be read (${verdict.detail}); kept for inspection`,
          messageId: record.id,
          recipient,
          notified: [],
        });
      }
    } catch (error) {
      throw storeFailure(error);
    }
    if (verdict.keep)
      return { ...(await this.keep(raw, envelope, verdict, record.id)), ...base, kind: verdict.kind };
    return { kind: verdict.kind, ...base };
  }

  private async event(
    record: MessageRecord,
    recipient: string,
    type: NewEvent["type"],
    verdict: FeedbackVerdict,
    at: number,
  ): Promise<void> {
    await this.options.store.recordEvent({
      type,
      messageId: record.id,
      recipient,
      at,
      detail: verdict.detail,
    });
  }

  private async suppress(
    record: MessageRecord,
    recipient: string,
    list: SuppressionList,
    verdict: FeedbackVerdict,
    at: number,
  ): Promise<void> {
    await this.options.store.addSuppression(record.account, {
      address: recipient,
      list,
      reason: verdict.detail,
      at,
      messageId: record.id,
    });
  }

  /** The account's errors list, and a notice as its `notify` says (spooled before the 250). */
  private async tell(
    record: MessageRecord,
    recipient: string,
    verdict: FeedbackVerdict,
    code: "bounced" | "complaint",
    at: number,
  ): Promise<void> {
    const { store, spool, newId, hostname } = this.options;
    const account = await store.getAccount(record.account);
    const notice = buildNotice({ reportingMta: hostname, record, account, recipient, verdict, now: at });
    if (notice) {
      const entry = await spoolNotice({ spool, newId, hostname, now: at }, record.account, notice).catch(
        (error: unknown) => {
          this.log.error({ err: error, id: record.id }, "could not spool a feedback notice");
          throw new RelayError("spool_error", "Local error in processing, try again later");
        },
      );
      this.options.onSpooled(entry);
    }
    const what = code === "bounced" ? "Bounced after delivery" : "Complaint";
    await store.recordError(record.account, {
      at,
      code,
      message: `${what}: ${verdict.detail}`,
      messageId: record.id,
      recipient,
      notified: notice?.to ?? [],
    });
  }

  private async keep(
    raw: ReportSource,
    envelope: FeedbackEnvelope,
    verdict: FeedbackVerdict,
    messageId?: string,
  ): Promise<FeedbackOutcome> {
    const { inspection } = this.options;
    const kept = await inspection
      .keep(raw, {
        reason: `${verdict.kind}: ${verdict.detail}`,
        mailFrom: envelope.from,
        rcptTo: envelope.to,
        clientIp: envelope.clientIp,
        at: this.now(),
        ...(messageId ? { messageId } : {}),
      })
      .catch((error: unknown) => {
        this.log.error({ err: error }, "could not keep a feedback message for inspection");
        throw new RelayError("spool_error", "Local error in processing, try again later");
      });
    this.keptFiles.set(inspection.files);
    return { kind: verdict.kind, detail: verdict.detail, kept, ...(messageId ? { messageId } : {}) };
  }
}

function findRecipient(record: MessageRecord, target: Target): string | undefined {
  for (const { address } of record.recipients) {
    const lower = address.toLowerCase();
    if (
      target.recipient !== undefined
        ? lower === target.recipient
        : target.recipientHash?.equals(recipientHash(lower))
    )
      return lower;
  }
  return undefined;
}

function storeFailure(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  return new RelayError("store_unavailable", "Temporary lookup failure, try again later", { cause: error });
}
