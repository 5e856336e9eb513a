/**
 * The copy stage's one door: `CopyMaker.make` turns a spooled message into one recipient's
 * copy (the transform's per-recipient output, read from the spool). Copies are made by the
 * worker threads (pool.ts) when there is a pool; without one (a transform other than
 * relay/transform's, in tests) they are streamed through `transform` on this thread. The
 * delivery (relay/delivery/deliverer.ts) sends what it is given and never looks inside.
 */
import { createReadStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { Readable } from "node:stream";
import type { Account } from "../accounts/schema.js";
import type { LocalDeferral } from "../deferrals.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { TokenKeyring } from "../tracking/token.js";
import { AlternativeCache, KeyCache, type TransformContext } from "../transform/index.js";
import { COPY_WORKER_LOSSES_BEFORE_QUARANTINE, type QuarantineReason } from "./dispatch.js";
import { type RelayInstructions, trackOverrides } from "./instructions.js";
import {
  CopyCancelled,
  CopyDeadlineExceeded,
  type CopyPool,
  CopyPoolClosed,
  CopyWorkerLost,
  type MadeCopy,
} from "./pool.js";

export type DeliveryMode = "full" | "passthrough";

/** The per-recipient transform (relay/transform `transformForRecipient`). */
export type TransformFn = (source: Readable, ctx: TransformContext) => Readable;
export type { TransformContext };

export interface CopyOrder {
  entry: SpoolEntry;
  recipient: string;
  account: Account | undefined;
  mode: DeliveryMode;
  /** The message's X-Relay-* headers, read once at admission (instructions.ts). */
  instructions: RelayInstructions;
}

/** Marks errors of the copy's own making, so a failed transform is not taken for a remote answer. */
export class CopyError extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

/** A recipient's copy, ready to be sent (as often as the next hops need). */
export interface Copy {
  /** The copy's bytes, from the start; each call is a fresh stream. */
  stream(): Readable;
  /** The error that stopped the last stream, when the copy itself failed (not the reader). */
  failure(): CopyError | undefined;
  /** Frees what the copy holds (a big copy's file); call once it has been sent. */
  release(): Promise<void>;
}

export type CopyResult =
  | { kind: "copy"; copy: Copy }
  /** The worker could not make it (the transform failed, or reading the spool did). */
  | { kind: "failed"; error: CopyError }
  /** The message itself is the trouble: past the deadline, or its worker lost twice. */
  | { kind: "quarantine"; reason: QuarantineReason; detail: string }
  /** Not made, through no fault of the message (the relay is stopping, a worker cannot start). */
  | { kind: "deferred"; deferral: LocalDeferral };

export interface CopyMakerOptions {
  spool: Spool;
  /** Absent: copies go out as received. */
  transform?: TransformFn;
  tracking?: { baseUrl: string; keys: TokenKeyring };
  metrics?: Metrics;
  now?: () => number;
  /**
   * Worker threads that make every transformed copy (pool.ts). Without a pool (a transform
   * other than relay/transform's, in tests) copies are streamed through `transform` here.
   */
  pool?: CopyPool;
  logger?: Logger;
}

export class CopyMaker {
  private readonly now: () => number;
  /** Shared by every copy: parsed DKIM keys and generated text alternatives (both costly to make). */
  private readonly keyCache = new KeyCache();
  private readonly alternatives = new AlternativeCache();

  constructor(private readonly options: CopyMakerOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The copy. From a worker it is made once, before a connection is taken, and sent as is on
   * every try; on this thread it is streamed afresh for each try.
   */
  async make(order: CopyOrder): Promise<CopyResult> {
    const { pool, tracking } = this.options;
    if (pool && tracking && order.account && this.transforms(order))
      return this.fromPool(pool, tracking, order, order.account);
    return { kind: "copy", copy: this.streamed(order) };
  }

  /** Gives up the copies under way of a message taken out of the queue. */
  cancel(messageId: string): void {
    this.options.pool?.cancel(messageId);
  }

  private transforms(order: CopyOrder): boolean {
    const { transform, tracking } = this.options;
    // Our own notices carry nothing to track and must reach the sender as built.
    return Boolean(transform && tracking && order.account && order.entry.envelope.listener !== "notify");
  }

  private async fromPool(
    pool: CopyPool,
    tracking: NonNullable<CopyMakerOptions["tracking"]>,
    order: CopyOrder,
    account: Account,
  ): Promise<CopyResult> {
    const { entry } = order;
    // Small messages go to the worker as bytes (a copy of a few KB), big ones it streams from the file.
    const kept = entry.size <= pool.maxInlineBytes ? this.options.spool.recent.get(entry.path) : undefined;
    const task = {
      ...(kept ? { bytes: kept } : {}),
      path: entry.path,
      bodyOffset: entry.bodyOffset,
      size: entry.size,
      messageId: entry.id,
      recipient: order.recipient,
      envelopeFrom: entry.envelope.from,
      mode: order.mode,
      account,
      trackingBaseUrl: tracking.baseUrl,
      tokenKeys: tracking.keys,
      instructions: order.instructions,
    };
    for (let losses = 0; ; ) {
      const started = this.now();
      try {
        const made = await pool.make(task);
        this.options.metrics?.processing.observe((this.now() - started) / 1000);
        return { kind: "copy", copy: this.made(made, entry.id) };
      } catch (error) {
        if (error instanceof CopyDeadlineExceeded)
          return { kind: "quarantine", reason: "copy_deadline", detail: `quarantined: ${error.message}` };
        // A worker that cannot even start is the relay's trouble (its build, the machine), not the message's.
        if (error instanceof CopyWorkerLost && error.beforeReady)
          return { kind: "deferred", deferral: { kind: "copy_worker_unavailable", detail: error.message } };
        if (error instanceof CopyWorkerLost) {
          losses++;
          if (losses < COPY_WORKER_LOSSES_BEFORE_QUARANTINE) continue;
          return {
            kind: "quarantine",
            reason: "copy_crash",
            detail: `quarantined: its copy stopped the copy worker ${losses} times (${error.message})`,
          };
        }
        if (error instanceof CopyPoolClosed)
          return { kind: "deferred", deferral: { kind: "relay_stopping" } };
        if (error instanceof CopyCancelled)
          return { kind: "deferred", deferral: { kind: "copy_cancelled", detail: error.message } };
        return { kind: "failed", error: new CopyError(error) };
      }
    }
  }

  /** A worker's copy, from memory or streamed from its file (removed on release). */
  private made(made: MadeCopy, messageId: string): Copy {
    const { logger } = this.options;
    return {
      stream: () => {
        if (made.kind === "bytes") return Readable.from([made.bytes], { objectMode: false });
        async function* fromFile(path: string): AsyncGenerator<Buffer> {
          for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }))
            yield chunk as Buffer;
        }
        return Readable.from(fromFile(made.path), { objectMode: false });
      },
      failure: () => undefined,
      release: async () => {
        if (made.kind === "file")
          await unlink(made.path).catch((error: unknown) =>
            logger?.warn({ err: error, id: messageId }, "could not remove a finished copy's file"),
          );
      },
    };
  }

  /** The copy streamed on this thread (transformed, or as received); its own failures are kept. */
  private streamed(order: CopyOrder): Copy {
    const { entry, recipient, account, mode } = order;
    const { transform, tracking, metrics, spool } = this.options;
    const { keyCache, alternatives } = this;
    const transforms = this.transforms(order);
    const overrides = trackOverrides(order.instructions);
    const now = this.now;
    let failure: CopyError | undefined;
    async function* copy(): AsyncGenerator<Buffer> {
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
        failure = new CopyError(error);
        throw failure;
      }
      metrics?.processing.observe((now() - started) / 1000);
    }
    return {
      stream: () => Readable.from(copy(), { objectMode: false }),
      failure: () => failure,
      release: async () => undefined,
    };
  }
}
