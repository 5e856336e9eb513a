/**
 * Handing a relay's queue to other relays of its pool, so that mail left
 * when a drain runs out of time is not stranded on a volume that may never
 * be mounted again (a StatefulSet ordinal scaled away) or lost with it (a
 * Deployment's emptyDir).
 *
 * The unit handed over is exactly what a restart would resume from: the
 * spool file (envelope line + message bytes) and its progress file (which
 * recipients are delivered, bounced, notified). The receiving relay writes
 * the progress first and then commits the spool file under the same ID, so
 * a crash on either side leaves the message in at least one spool: the
 * sender removes its copy only after the receiver's 200, and a message
 * handed over twice (a lost answer, a retry) is recognised by its ID. Every
 * relay of a pool shares one Store, so the message's log, attempts and stats
 * carry on under that ID.
 *
 * Wire format of POST /v1/admin/spool (admin token): one line of progress
 * JSON ("null" when there is none), then the spool file as it is on disk.
 */

import { lookup } from "node:dns/promises";
import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Logger } from "../log/logger.js";
import { decodeEnvelope } from "./envelope.js";
import {
  type MessageProgress,
  messageProgressSchema,
  progressPath,
  readProgress,
  writeProgress,
} from "./progress.js";
import { readEntry, type Spool, type SpoolEntry } from "./spool.js";

/** Spool IDs are 23 base-36 characters (relay/spool/id.ts): nothing else may name a file. */
const SPOOL_ID = /^[0-9a-z]{23}$/;
const MAX_HEADER_LINES_BYTES = 16 * 1024 * 1024;

export class HandoffRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits a request body into its first two lines (each up to `limit` bytes)
 * and the bytes after them, read on demand. The iterator is driven by hand:
 * leaving a for-await loop early would destroy the request.
 */
async function splitHead(
  request: IncomingMessage,
  limit: number,
): Promise<{ lines: [string, string]; rest: AsyncGenerator<Buffer> }> {
  const chunks = request[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buffered = Buffer.alloc(0);
  const lines: string[] = [];
  while (lines.length < 2) {
    const newline = buffered.indexOf(10);
    if (newline !== -1) {
      lines.push(buffered.subarray(0, newline).toString("utf8"));
      buffered = buffered.subarray(newline + 1);
      continue;
    }
    if (buffered.length > limit) throw new HandoffRefused(413, "header line too long");
    const next = await chunks.next();
    if (next.done) throw new HandoffRefused(400, "body ended before its two header lines");
    buffered = Buffer.concat([buffered, next.value]);
  }
  const leftover = buffered;
  async function* rest(): AsyncGenerator<Buffer> {
    if (leftover.length > 0) yield leftover;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { lines: lines as [string, string], rest: rest() };
}

/**
 * Deferred recipients are tried at once on their new relay (what held them may have been the old
 * relay's own: its source address, its connections); their deferral count, and so the backoff
 * after the next deferral, carries on.
 */
function retryNow(progress: MessageProgress): MessageProgress {
  const recipients: MessageProgress["recipients"] = {};
  for (const [address, state] of Object.entries(progress.recipients)) {
    const { nextAttemptAt: _dropped, ...rest } = state;
    recipients[address] = state.state === "pending" ? rest : state;
  }
  return { ...progress, recipients };
}

export interface ReceiveDeps {
  spool: Spool;
  /** Hands the committed message to the scheduler, which reads its progress file like a restart. */
  enqueue: (entry: SpoolEntry, options: { withProgress: boolean }) => void;
  maxMessageBytes: number;
  logger: Logger;
}

/** Takes one handed-over message into this relay's spool; resolves with its ID. */
export async function receiveHandoff(
  request: IncomingMessage,
  deps: ReceiveDeps,
): Promise<{ id: string; duplicate: boolean }> {
  const head = await splitHead(request, MAX_HEADER_LINES_BYTES);
  let progress: MessageProgress | undefined;
  try {
    const parsed: unknown = JSON.parse(head.lines[0]);
    progress = parsed === null ? undefined : messageProgressSchema.parse(parsed);
  } catch {
    throw new HandoffRefused(400, "first line: progress JSON or null");
  }
  let envelope: ReturnType<typeof decodeEnvelope>;
  try {
    envelope = decodeEnvelope(head.lines[1]);
  } catch (error) {
    throw new HandoffRefused(400, `envelope line: ${(error as Error).message.slice(0, 200)}`);
  }
  if (!SPOOL_ID.test(envelope.id)) throw new HandoffRefused(400, "envelope id: not a spool ID");
  const finalPath = join(deps.spool.queueDir, `${envelope.id}.msg`);
  const exists = await access(finalPath).then(
    () => true,
    () => false,
  );
  if (exists) {
    // Read and drop the rest: the request must end before the answer.
    for await (const chunk of head.rest) void chunk;
    return { id: envelope.id, duplicate: true };
  }
  // Progress first: a crash before the commit leaves an orphan progress file, which start-up removes.
  if (progress) await writeProgress(progressPath(deps.spool.queueDir, envelope.id), retryNow(progress));
  const writer = await deps.spool.create(envelope);
  try {
    let size = 0;
    const limit = deps.maxMessageBytes;
    const counted = async function* () {
      for await (const chunk of head.rest) {
        size += chunk.length;
        if (size > limit) throw new HandoffRefused(413, "message larger than maxMessageBytes");
        yield chunk;
      }
    };
    await pipeline(counted, writer.stream);
    const entry = await writer.commit();
    deps.enqueue(entry, { withProgress: progress !== undefined });
    deps.logger.info({ id: entry.id, account: envelope.account }, "took over a message from another relay");
    return { id: entry.id, duplicate: false };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

export interface HandoffReport {
  handedOff: number;
  /** Messages no target took (they stay in this spool). */
  failed: number;
}

/** Sends one spooled message (with its progress) to `target` ("http://host:port" of a relay's API). */
async function sendOne(
  entry: SpoolEntry,
  progress: MessageProgress | undefined,
  target: string,
  token: string,
) {
  const url = new URL("/v1/admin/spool", target);
  await new Promise<void>((resolve, reject) => {
    const outgoing = httpRequest(
      url,
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        timeout: 60_000,
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          if (text.length < 2000) text += chunk;
        });
        response.on("end", () =>
          response.statusCode === 200
            ? resolve()
            : reject(new Error(`${target}: HTTP ${response.statusCode} ${text.trim().slice(0, 300)}`)),
        );
      },
    );
    outgoing.on("timeout", () => outgoing.destroy(new Error(`${target}: timed out`)));
    outgoing.on("error", reject);
    outgoing.write(`${JSON.stringify(progress ?? null)}\n`);
    // The whole file: envelope line and message, exactly as this relay would resume it.
    createReadStream(entry.path)
      .on("error", (error) => outgoing.destroy(error))
      .pipe(outgoing);
  });
}

/**
 * Hands every message in the spool to the targets, round robin, trying the
 * next target when one refuses; a message is removed here only once a target
 * has answered 200. Call with the scheduler stopped (nothing else touches the
 * spool then).
 */
export async function handOffSpool(options: {
  spool: Spool;
  targets: readonly string[];
  token: string;
  logger: Logger;
}): Promise<HandoffReport> {
  const report: HandoffReport = { handedOff: 0, failed: 0 };
  let turn = 0;
  for (const id of await options.spool.list()) {
    const entry = await readEntry(join(options.spool.queueDir, `${id}.msg`));
    const progress = await readProgress(progressPath(options.spool.queueDir, id));
    let sent = false;
    for (let tries = 0; tries < options.targets.length && !sent; tries++) {
      const target = options.targets[turn++ % options.targets.length] as string;
      try {
        await sendOne(entry, progress, target, options.token);
        sent = true;
      } catch (error) {
        options.logger.warn({ err: error, id, target }, "hand-off refused; trying the next relay");
      }
    }
    if (!sent) {
      report.failed++;
      continue;
    }
    await options.spool.remove(id);
    report.handedOff++;
  }
  options.logger.info({ ...report, targets: options.targets }, "handed the queue to other relays");
  return report;
}

/**
 * The other relays of the pool, from a name whose addresses are its ready relays (the headless
 * Service): every address but this relay's own API address, as "http://IP:port". Empty when the
 * name does not resolve.
 */
export async function handoffTargets(dnsName: string, port: number, ownApiPort: number): Promise<string[]> {
  const addresses = await lookup(dnsName, { all: true }).catch(() => []);
  const own = new Set(
    Object.values(networkInterfaces())
      .flat()
      .map((iface) => iface?.address),
  );
  return addresses
    .filter((a) => !(own.has(a.address) && port === ownApiPort))
    .map((a) => `http://${a.family === 6 ? `[${a.address}]` : a.address}:${port}`);
}
