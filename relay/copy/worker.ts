/**
 * A copy worker (worker thread): makes per-recipient copies (transform +
 * DKIM, relay/transform) from spooled messages, off the main thread. See
 * pool.ts for why and how; the pool gives a worker one copy at a time,
 * so the deadline it keeps measures this copy alone.
 *
 * Small messages come with their task (the spool kept them, relay/spool/recent.ts) or are
 * read whole, and are kept (the last few), so a message's copies read it once at most; their
 * copies come back as bytes. Big messages are
 * streamed from the spool through the transform into the file the task names
 * (`output`), with backpressure all the way, so memory stays flat whatever
 * the size.
 */
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parentPort } from "node:worker_threads";
import { readMessage, streamMessage } from "../spool/read.js";
import {
  AlternativeCache,
  KeyCache,
  type TransformContext,
  transformForRecipient,
} from "../transform/index.js";
import { trackOverrides } from "./instructions.js";
import {
  type CopyReply,
  type CopyRequestMessage,
  type CopyTask,
  type CopyWorkerReady,
  copyFailure,
  revivedKeyring,
} from "./task.js";

/** Messages whose bytes are kept, newest last; a message's copies are usually made together. */
const KEPT_MESSAGES = 32;

const keyCache = new KeyCache();
const alternatives = new AlternativeCache();
const kept = new Map<string, Promise<Buffer>>();

function message(task: CopyTask): Promise<Buffer> {
  const key = `${task.path}\u0000${task.bodyOffset}`;
  let bytes = kept.get(key);
  if (bytes) {
    kept.delete(key);
  } else {
    const given = task.bytes;
    bytes = given
      ? Promise.resolve(Buffer.from(given.buffer, given.byteOffset, given.byteLength))
      : readMessage(task);
    // A failed read is not kept: the next copy tries again.
    bytes.catch(() => kept.delete(key));
  }
  kept.set(key, bytes);
  while (kept.size > KEPT_MESSAGES) kept.delete(kept.keys().next().value as string);
  return bytes;
}

function context(task: CopyTask): TransformContext {
  const overrides = trackOverrides(task.instructions);
  return {
    mode: task.mode,
    messageId: task.messageId,
    recipient: task.recipient,
    envelopeFrom: task.envelopeFrom,
    account: task.account,
    trackingBaseUrl: task.trackingBaseUrl,
    tokenKeys: revivedKeyring(task.tokenKeys),
    ...(overrides ? { overrides } : {}),
    keyCache,
    alternatives,
    ...(task.signTime !== undefined ? { signTime: new Date(task.signTime) } : {}),
  };
}

/** The copy in an ArrayBuffer of its own (not Node's shared pool), so it can be moved rather than copied. */
async function copyInMemory(task: CopyTask): Promise<Uint8Array> {
  const raw = await message(task);
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of transformForRecipient(Readable.from([raw]), context(task))) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const owned = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    owned.set(chunk, at);
    at += chunk.length;
  }
  return owned;
}

/** Streams the copy through the descriptors the pool opened (task.fds); closing them is the pool's job. */
async function copyToFile(
  task: CopyTask,
  output: string,
  fds: { input: number; output: number },
): Promise<{ path: string; size: number }> {
  const source = streamMessage(task, fds.input);
  const sink = createWriteStream(output, { fd: fds.output, autoClose: false });
  await pipeline(transformForRecipient(source, context(task)), sink);
  return { path: output, size: sink.bytesWritten };
}

const port = parentPort;
if (!port) throw new Error("relay/copy/worker.ts runs as a worker thread (relay/copy/pool.ts)");
port.on("message", ({ id, task }: CopyRequestMessage) => {
  const made =
    task.output && task.fds
      ? copyToFile(task, task.output, task.fds).then((file): [CopyReply, ArrayBuffer[]] => [
          { id, ok: true, file },
          [],
        ])
      : copyInMemory(task).then((bytes): [CopyReply, ArrayBuffer[]] => [
          { id, ok: true, bytes },
          [bytes.buffer as ArrayBuffer],
        ]);
  made.then(
    ([reply, transfer]) => port.postMessage(reply, transfer),
    (error: unknown) => {
      const reply: CopyReply = { id, ok: false, error: copyFailure(error) };
      port.postMessage(reply);
    },
  );
});
const ready: CopyWorkerReady = { ready: true };
port.postMessage(ready);
