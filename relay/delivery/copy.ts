/**
 * Delivers one recipient's copy through one chosen sender: finds the next hop
 * (smart host, or the domain's MX hosts in order), makes the copy (Received
 * header + the transform's per-recipient output, read from the spool), sends
 * it with an explicit envelope and classifies the answer. Route choice,
 * retries and bookkeeping belong to the scheduler.
 */
import { createReadStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { Readable } from "node:stream";
import type { Account } from "../accounts/schema.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import type { Sender } from "../routes/schema.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { TokenKeyring } from "../tracking/token.js";
import { AlternativeCache, KeyCache, type TransformContext } from "../transform/index.js";
import type { DeliveryAttempt } from "../vocabulary.js";
import { classifyAnswer, type RemoteAnswer, type Verdict } from "./classify.js";
import { COPY_WORKER_LOSSES_BEFORE_QUARANTINE, type QuarantineReason } from "./copy-dispatch.js";
import {
  CopyCancelled,
  CopyDeadlineExceeded,
  type CopyPool,
  CopyPoolClosed,
  CopyWorkerLost,
  type MadeCopy,
} from "./copy-pool.js";
import type { MxCache } from "./mx.js";
import { isSafeEnvelopeAddress, receivedHeader } from "./received.js";
import type { TransportPool } from "./transport.js";

export type DeliveryMode = "full" | "passthrough";

/** The per-recipient transform (relay/transform `transformForRecipient`). */
export type TransformFn = (source: Readable, ctx: TransformContext) => Readable;
export type { TransformContext };

export interface CopyRequest {
  entry: SpoolEntry;
  recipient: string;
  domain: string;
  sender: Sender;
  /** The route table's blocking.patterns. */
  blockPatterns: readonly string[];
  account: Account | undefined;
  mode: DeliveryMode;
  /** The message's X-Relay-Track settings (they can only turn tracking off). */
  overrides?: { opens?: boolean; clicks?: boolean };
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
}

export interface CopyDelivererOptions {
  spool: Spool;
  transports: TransportPool;
  mx: MxCache;
  hostname: string;
  /** Absent: copies go out as received (plus Received:). */
  transform?: TransformFn;
  tracking?: { baseUrl: string; keys: TokenKeyring };
  metrics?: Metrics;
  now?: () => number;
  /** MX hosts tried per attempt when the first cannot be reached. */
  maxMxHosts?: number;
  /** Issue 11: the envelope sender of each copy (a VERP return path, relay/feedback); absent: the message's own. */
  returnPath?: (messageId: string, envelopeFrom: string, recipient: string) => string;
  /**
   * Worker threads that make every transformed copy (copy-pool.ts); the worker reads
   * X-Relay-Track when the request does not carry it. Without a pool (a transform other than
   * relay/transform's, in tests) copies are streamed through `transform` on this thread.
   */
  pool?: CopyPool;
  logger?: Logger;
}

/** Marks errors of the copy's own making, so a failed transform is not taken for a remote answer. */
class CopyError extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

export class CopyDeliverer {
  private readonly now: () => number;
  /** Shared by every copy: parsed DKIM keys and generated text alternatives (both costly to make). */
  private readonly keyCache = new KeyCache();
  private readonly alternatives = new AlternativeCache();

  constructor(private readonly options: CopyDelivererOptions) {
    this.now = options.now ?? Date.now;
  }

  async deliver(request: CopyRequest): Promise<CopyOutcome> {
    const started = this.now();
    const { entry, recipient, sender } = request;
    const base = { sender: sender.name, ...(sender.localAddress ? { sourceIp: sender.localAddress } : {}) };
    const finish = (
      answer: RemoteAnswer,
      remoteHost: string | undefined,
      unparseable = false,
    ): CopyOutcome => {
      const verdict = unparseable
        ? { outcome: "bounced" as const, unknownRecipient: false, connectRefusal: false, status: "5.6.0" }
        : classifyAnswer(answer, request.blockPatterns);
      return {
        verdict,
        unparseable,
        attempt: {
          at: started,
          ...base,
          ...(remoteHost ? { remoteHost } : {}),
          outcome: verdict.outcome,
          ...(answer.responseCode ? { responseCode: answer.responseCode } : {}),
          answer: answer.text.slice(0, 1000),
          durationMs: this.now() - started,
        },
      };
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
    if (hosts.kind === "local") return finish(hosts.answer, undefined);

    const failedCopy = (copyError: CopyError, host: string | undefined): CopyOutcome => {
      const original = copyError.original as NodeJS.ErrnoException;
      // Reading our own spool failed (EMFILE, EIO...): ours to retry, not the sender's fault.
      if (typeof original?.code === "string" && original.syscall)
        return finish(
          { text: `4.3.0 local error reading the message: ${original.message}`, stage: "local" },
          host,
        );
      return finish(
        { text: `5.6.0 the message could not be processed: ${copyError.message}`, stage: "local" },
        host,
        true,
      );
    };
    // From a worker: made once, before a connection is taken, and sent as is on every try.
    const made = await this.copyFromPool(request);
    if (made instanceof CopyError) return failedCopy(made, hosts.hosts[0]);
    if (made && "quarantine" in made) {
      const outcome = finish({ text: `5.6.0 ${made.quarantine.detail}`, stage: "local" }, undefined);
      return { ...outcome, quarantine: made.quarantine };
    }
    if (made && "deferral" in made) return finish({ text: made.deferral, stage: "local" }, undefined);
    try {
      return await this.send(request, hosts.hosts, made, failedCopy, finish);
    } finally {
      if (made?.kind === "file")
        await unlink(made.path).catch((error: unknown) =>
          this.options.logger?.warn({ err: error, id: entry.id }, "could not remove a finished copy's file"),
        );
    }
  }

  private async send(
    request: CopyRequest,
    hosts: string[],
    made: MadeCopy | undefined,
    failedCopy: (copyError: CopyError, host: string | undefined) => CopyOutcome,
    finish: (answer: RemoteAnswer, remoteHost: string | undefined) => CopyOutcome,
  ): Promise<CopyOutcome> {
    const { entry, recipient } = request;
    const from = this.options.returnPath?.(entry.id, entry.envelope.from, recipient) ?? entry.envelope.from;
    let last: { answer: RemoteAnswer; host: string } | undefined;
    for (const host of hosts) {
      let copyError: CopyError | undefined;
      const { answer } = await this.options.transports.send({
        sender: request.sender,
        host,
        port: request.sender.port,
        from,
        to: recipient,
        id: entry.id,
        message: () =>
          made
            ? this.madeStream(made, receivedHeader(entry.envelope, recipient, this.options.hostname))
            : this.makeCopy(request, (error) => {
                copyError = error;
              }),
      });
      if (copyError) return failedCopy(copyError, host);
      last = { answer, host };
      const unreachable =
        answer.stage === "connect" && (answer.responseCode === undefined || answer.responseCode < 500);
      if (!unreachable) break;
    }
    const final = last as { answer: RemoteAnswer; host: string };
    return finish(final.answer, final.host);
  }

  /** Received: + a worker's copy, from memory or streamed from its file. */
  private madeStream(made: MadeCopy, trace: Buffer): Readable {
    if (made.kind === "bytes") return Readable.from([trace, made.bytes], { objectMode: false });
    async function* fromFile(path: string): AsyncGenerator<Buffer> {
      yield trace;
      for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) yield chunk as Buffer;
    }
    return Readable.from(fromFile(made.path), { objectMode: false });
  }

  private transforms(request: CopyRequest): boolean {
    const { transform, tracking } = this.options;
    // Our own notices carry nothing to track and must reach the sender as built.
    return Boolean(transform && tracking && request.account && request.entry.envelope.listener !== "notify");
  }

  /**
   * The copy made by a worker thread; the error that stopped it; the message's quarantine (past
   * the deadline, or its worker lost twice); a local deferral (the relay is stopping); or
   * undefined when it is to be streamed on this thread (no pool, or nothing to transform).
   */
  private async copyFromPool(
    request: CopyRequest,
  ): Promise<
    | MadeCopy
    | CopyError
    | { quarantine: NonNullable<CopyOutcome["quarantine"]> }
    | { deferral: string }
    | undefined
  > {
    const { pool, tracking, metrics } = this.options;
    const { entry, account } = request;
    if (!pool || !tracking || !account || !this.transforms(request)) return undefined;
    const task = {
      path: entry.path,
      bodyOffset: entry.bodyOffset,
      size: entry.size,
      messageId: entry.id,
      recipient: request.recipient,
      envelopeFrom: entry.envelope.from,
      mode: request.mode,
      account,
      trackingBaseUrl: tracking.baseUrl,
      tokenKeys: tracking.keys,
      ...(request.overrides ? { overrides: request.overrides } : {}),
    };
    for (let losses = 0; ; ) {
      const started = this.now();
      try {
        const made = await pool.make(task);
        metrics?.processing.observe((this.now() - started) / 1000);
        return made;
      } catch (error) {
        if (error instanceof CopyDeadlineExceeded)
          return { quarantine: { reason: "copy_deadline", detail: `quarantined: ${error.message}` } };
        // A worker that cannot even start is the relay's trouble (its build, the machine), not the message's.
        if (error instanceof CopyWorkerLost && error.beforeReady)
          return { deferral: `4.3.0 local error: ${error.message}` };
        if (error instanceof CopyWorkerLost) {
          losses++;
          if (losses < COPY_WORKER_LOSSES_BEFORE_QUARANTINE) continue;
          return {
            quarantine: {
              reason: "copy_crash",
              detail: `quarantined: its copy stopped the copy worker ${losses} times (${error.message})`,
            },
          };
        }
        if (error instanceof CopyPoolClosed) return { deferral: "4.3.0 the relay is stopping" };
        if (error instanceof CopyCancelled) return { deferral: `4.3.0 copy cancelled: ${error.message}` };
        return new CopyError(error);
      }
    }
  }

  /** Gives up the copies under way of a message taken out of the queue. */
  cancel(messageId: string): void {
    this.options.pool?.cancel(messageId);
  }

  private async nextHops(
    request: CopyRequest,
  ): Promise<{ kind: "hosts"; hosts: string[] } | { kind: "local"; answer: RemoteAnswer }> {
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
        return { kind: "local", answer: { text: `4.4.3 ${lookup.text}`, stage: "local" } };
    }
  }

  /** Received: + the transformed copy, as one stream; reports the copy's own failures through `onError`. */
  private makeCopy(request: CopyRequest, onError: (error: CopyError) => void): Readable {
    const { entry, recipient, account, mode, overrides } = request;
    const { transform, tracking, metrics, spool, hostname } = this.options;
    const { keyCache, alternatives } = this;
    const trace = receivedHeader(entry.envelope, recipient, hostname);
    const transforms = this.transforms(request);
    const now = this.now;
    async function* copy(): AsyncGenerator<Buffer> {
      yield trace;
      const started = now();
      try {
        const source = spool.read(entry);
        const body =
          transform && account && tracking && transforms
            ? transform(source, {
                mode,
                messageId: entry.id,
                recipient,
                envelopeFrom: entry.envelope.from,
                account,
                trackingBaseUrl: tracking.baseUrl,
                tokenKeys: tracking.keys,
                ...(overrides ? { overrides } : {}),
                keyCache,
                alternatives,
              })
            : source;
        for await (const chunk of body)
          yield typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      } catch (error) {
        const wrapped = new CopyError(error);
        onError(wrapped);
        throw wrapped;
      }
      metrics?.processing.observe((now() - started) / 1000);
    }
    return Readable.from(copy(), { objectMode: false });
  }
}
