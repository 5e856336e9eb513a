/**
 * A copy worker (worker thread): makes per-recipient copies (transform +
 * DKIM, relay/transform) from spooled messages, off the main thread, and
 * hands back each copy's bytes. See copy-pool.ts for why and how.
 *
 * Each message is read once for all its copies made here: the pool sends
 * every copy of a message to the same worker, and the last few messages'
 * bytes are kept (small ones only: the pool sends nothing bigger).
 */
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { parentPort } from "node:worker_threads";
import { AlternativeCache, KeyCache, transformForRecipient } from "../transform/index.js";
import {
  type CopyReply,
  type CopyRequestMessage,
  type CopyTask,
  copyFailure,
  headerBlockOf,
  revivedKeyring,
  trackOverridesOf,
} from "./copy-task.js";

/** Messages whose bytes are kept, newest last; a message's copies are usually made together. */
const KEPT_MESSAGES = 32;

const keyCache = new KeyCache();
const alternatives = new AlternativeCache();
const kept = new Map<string, Promise<Buffer>>();

async function readMessage(task: CopyTask): Promise<Buffer> {
  const handle = await open(task.path, "r");
  try {
    const bytes = Buffer.allocUnsafe(task.size);
    let done = 0;
    while (done < task.size) {
      const { bytesRead } = await handle.read(bytes, done, task.size - done, task.bodyOffset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // A file shorter than its entry says: copy what is there, as the streaming path would.
    return bytes.subarray(0, done);
  } finally {
    await handle.close();
  }
}

function message(task: CopyTask): Promise<Buffer> {
  const key = `${task.path}\u0000${task.bodyOffset}`;
  let bytes = kept.get(key);
  if (bytes) {
    kept.delete(key);
  } else {
    bytes = readMessage(task);
    // A failed read is not kept: the next copy tries again.
    bytes.catch(() => kept.delete(key));
  }
  kept.set(key, bytes);
  while (kept.size > KEPT_MESSAGES) kept.delete(kept.keys().next().value as string);
  return bytes;
}

/** The copy in an ArrayBuffer of its own (not Node's shared pool), so it can be moved rather than copied. */
async function makeCopy(task: CopyTask): Promise<Uint8Array> {
  const raw = await message(task);
  const overrides = task.overrides ?? trackOverridesOf(headerBlockOf(raw));
  const copy = transformForRecipient(Readable.from([raw]), {
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
  });
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of copy) {
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

const port = parentPort;
if (!port) throw new Error("copy-worker.ts runs as a worker thread (relay/delivery/copy-pool.ts)");
port.on("message", ({ id, task }: CopyRequestMessage) => {
  makeCopy(task).then(
    (bytes) => {
      const reply: CopyReply = { id, ok: true, bytes };
      port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
    },
    (error: unknown) => {
      const reply: CopyReply = { id, ok: false, error: copyFailure(error) };
      port.postMessage(reply);
    },
  );
});
