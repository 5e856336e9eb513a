/**
 * Delivers one recipient's copy through one chosen sender: finds the next hop
 * (smart host, or the domain's MX hosts in order), has the copy stage make the
 * copy (relay/copy), sends it with a Received header and an explicit envelope,
 * and classifies the answer. Route choice, retries and bookkeeping belong to
 * the scheduler.
 */
import { Readable } from "node:stream";
import type { Copy, CopyError, CopyMaker, CopyOrder, QuarantineReason } from "../copy/index.js";
import { deferralAnswer, type LocalDeferral } from "../deferrals.js";
import type { Sender } from "../routes/schema.js";
import type { DeliveryAttempt } from "../vocabulary.js";
import { classifyAnswer, localDeferralVerdict, type RemoteAnswer, type Verdict } from "./classify.js";
import type { MxCache } from "./mx.js";
import { isSafeEnvelopeAddress, receivedHeader } from "./received.js";
import type { TransportPool } from "./transport.js";

export interface CopyRequest extends CopyOrder {
  domain: string;
  sender: Sender;
  /** The route table's blocking.patterns. */
  blockPatterns: readonly string[];
}

export interface CopyOutcome {
  verdict: Verdict;
  attempt: DeliveryAttempt;
  /** The copy itself could not be made (the transform failed on this message). */
  unparseable: boolean;
  /**
   * The message itself is the trouble (its copy overran the deadline, or killed its worker
   * twice): the scheduler takes the whole message out of the queue (relay/spool/quarantine.ts).
   */
  quarantine?: { reason: QuarantineReason; detail: string };
  /** Deferred by the relay itself, not by a next hop. */
  deferral?: LocalDeferral;
}

export interface CopyDelivererOptions {
  copies: CopyMaker;
  transports: TransportPool;
  mx: MxCache;
  hostname: string;
  now?: () => number;
  /** MX hosts tried per attempt when the first cannot be reached. */
  maxMxHosts?: number;
  /** The envelope sender of each copy (a VERP return path, relay/feedback); absent: the message's own. */
  returnPath?: (messageId: string, envelopeFrom: string, recipient: string) => string;
}

export class CopyDeliverer {
  private readonly now: () => number;

  constructor(private readonly options: CopyDelivererOptions) {
    this.now = options.now ?? Date.now;
  }

  async deliver(request: CopyRequest): Promise<CopyOutcome> {
    const started = this.now();
    const { entry, recipient, sender } = request;
    const base = { sender: sender.name, ...(sender.localAddress ? { sourceIp: sender.localAddress } : {}) };
    const outcomeOf = (
      answer: RemoteAnswer,
      remoteHost: string | undefined,
      verdict: Verdict,
    ): CopyOutcome => ({
      verdict,
      unparseable: false,
      attempt: {
        at: started,
        ...base,
        ...(remoteHost ? { remoteHost } : {}),
        outcome: verdict.outcome,
        ...(answer.responseCode ? { responseCode: answer.responseCode } : {}),
        answer: answer.text.slice(0, 1000),
        durationMs: this.now() - started,
      },
    });
    const deferred = (deferral: LocalDeferral, remoteHost: string | undefined): CopyOutcome => {
      const { status, text } = deferralAnswer(deferral);
      return { ...outcomeOf({ text, stage: "local" }, remoteHost, localDeferralVerdict(status)), deferral };
    };
    const finish = (
      answer: RemoteAnswer,
      remoteHost: string | undefined,
      unparseable = false,
    ): CopyOutcome => {
      const verdict = unparseable
        ? { outcome: "bounced" as const, unknownRecipient: false, connectRefusal: false, status: "5.6.0" }
        : classifyAnswer(answer, request.blockPatterns);
      return { ...outcomeOf(answer, remoteHost, verdict), unparseable };
    };

    if (
      !isSafeEnvelopeAddress(entry.envelope.from, { allowNull: true }) ||
      !isSafeEnvelopeAddress(recipient)
    ) {
      return finish(
        { responseCode: 553, text: "5.1.3 unsafe envelope address, not sent", stage: "local" },
        undefined,
      );
    }
    const hosts = await this.nextHops(request);
    if (hosts.kind === "deferred") return deferred(hosts.deferral, undefined);
    if (hosts.kind === "local") return finish(hosts.answer, undefined);

    const failedCopy = (copyError: CopyError, host: string | undefined): CopyOutcome => {
      const original = copyError.original as NodeJS.ErrnoException;
      // Reading our own spool failed (EMFILE, EIO...): ours to retry, not the sender's fault.
      if (typeof original?.code === "string" && original.syscall)
        return deferred({ kind: "spool_unreadable", detail: original.message }, host);
      return finish(
        { text: `5.6.0 the message could not be processed: ${copyError.message}`, stage: "local" },
        host,
        true,
      );
    };
    const made = await this.options.copies.make(request);
    switch (made.kind) {
      case "failed":
        return failedCopy(made.error, hosts.hosts[0]);
      case "quarantine": {
        const outcome = finish({ text: `5.6.0 ${made.detail}`, stage: "local" }, undefined);
        return { ...outcome, quarantine: { reason: made.reason, detail: made.detail } };
      }
      case "deferred":
        return deferred(made.deferral, undefined);
      case "copy":
        try {
          return await this.send(request, hosts.hosts, made.copy, failedCopy, finish);
        } finally {
          await made.copy.release();
        }
    }
  }

  private async send(
    request: CopyRequest,
    hosts: string[],
    copy: Copy,
    failedCopy: (copyError: CopyError, host: string | undefined) => CopyOutcome,
    finish: (answer: RemoteAnswer, remoteHost: string | undefined) => CopyOutcome,
  ): Promise<CopyOutcome> {
    const { entry, recipient } = request;
    const from = this.options.returnPath?.(entry.id, entry.envelope.from, recipient) ?? entry.envelope.from;
    let last: { answer: RemoteAnswer; host: string } | undefined;
    for (const host of hosts) {
      const { answer } = await this.options.transports.send({
        sender: request.sender,
        host,
        port: request.sender.port,
        from,
        to: recipient,
        id: entry.id,
        message: () =>
          withTrace(receivedHeader(entry.envelope, recipient, this.options.hostname), copy.stream()),
      });
      const copyError = copy.failure();
      if (copyError) return failedCopy(copyError, host);
      last = { answer, host };
      const unreachable =
        answer.stage === "connect" && (answer.responseCode === undefined || answer.responseCode < 500);
      if (!unreachable) break;
    }
    const final = last as { answer: RemoteAnswer; host: string };
    return finish(final.answer, final.host);
  }

  /** Gives up the copies under way of a message taken out of the queue. */
  cancel(messageId: string): void {
    this.options.copies.cancel(messageId);
  }

  private async nextHops(
    request: CopyRequest,
  ): Promise<
    | { kind: "hosts"; hosts: string[] }
    | { kind: "local"; answer: RemoteAnswer }
    | { kind: "deferred"; deferral: LocalDeferral }
  > {
    const { sender } = request;
    if (!sender.mx) return { kind: "hosts", hosts: [sender.host as string] };
    const lookup = await this.options.mx.lookup(request.domain);
    switch (lookup.kind) {
      case "hosts":
        return { kind: "hosts", hosts: lookup.hosts.slice(0, this.options.maxMxHosts ?? 3) };
      case "bounce":
        return {
          kind: "local",
          answer: { responseCode: 550, text: `${lookup.status} ${lookup.text}`, stage: "local" },
        };
      case "defer":
        return { kind: "deferred", deferral: { kind: "mx_unavailable", detail: lookup.text } };
    }
  }
}

/** Copy chunks up to this size go out joined to the trace header. */
const JOIN_TRACE_UP_TO = 64 * 1024;

/**
 * The trace header, then the copy. The header rides with the copy's first
 * chunk: each chunk becomes a socket write of its own, and a small copy is one.
 */
function withTrace(trace: Buffer, copy: Readable): Readable {
  async function* traced(): AsyncGenerator<Buffer> {
    let pending: Buffer | undefined = trace;
    for await (const chunk of copy) {
      const bytes = chunk as Buffer;
      if (pending && bytes.length <= JOIN_TRACE_UP_TO) {
        yield Buffer.concat([pending, bytes], pending.length + bytes.length);
      } else {
        if (pending) yield pending;
        yield bytes;
      }
      pending = undefined;
    }
    if (pending) yield pending;
  }
  return Readable.from(traced(), { objectMode: false });
}
