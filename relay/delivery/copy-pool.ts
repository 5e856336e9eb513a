/**
 * Copy workers: worker threads that make per-recipient copies (transform +
 * DKIM) so the main thread, which runs the SMTP sessions, the spool and the
 * Store, does not. Per copy that work is most of the relay's CPU (RSA-2048
 * signing alone ~0.3 ms), and with everything on one event loop a 2-core
 * machine leaves its second core to the kernel.
 *
 * Every copy of a message goes to the same worker, which reads the message
 * once for all of them (copy-worker.ts). Only small messages come here
 * (`maxBytes`): a copy is held whole in memory on its way back, where the
 * streaming path (CopyDeliverer.makeCopy) never holds more than a chunk.
 *
 * A worker that dies (a crash, an uncaught error, memory) takes nothing with
 * it: the copies it was making are rejected with CopyWorkerLost, the caller
 * makes them on the main thread instead, and the next copy for that slot
 * starts a fresh worker. The message itself is in the spool throughout.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "../log/logger.js";
import type { CopyFailure, CopyReply, CopyTask } from "./copy-task.js";

/** The worker making this copy went away before answering; nothing is known about the copy. */
export class CopyWorkerLost extends Error {}

/** The worker could not make the copy (the transform failed, or reading the spool did). */
export class CopyTaskError extends Error {
  readonly code: string | undefined;
  readonly syscall: string | undefined;
  constructor(failure: CopyFailure) {
    super(failure.message);
    this.code = failure.code;
    this.syscall = failure.syscall;
  }
}

export interface CopyPoolOptions {
  /** Worker threads (at least 1). */
  size: number;
  /** Messages bigger than this are not sent to the pool. Default 1 MiB. */
  maxBytes?: number;
  /** The worker's script; copy-worker's by default (tests give one that crashes). */
  script?: URL;
  logger?: Logger;
}

interface Pending {
  resolve: (bytes: Buffer) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker | undefined;
  pending: Map<number, Pending>;
}

const DEFAULT_SCRIPT = new URL(
  import.meta.url.endsWith(".ts") ? "./copy-worker.ts" : "./copy-worker.js",
  import.meta.url,
);

export class CopyPool {
  readonly maxBytes: number;
  /** Workers lost so far (for tests and the log). */
  lost = 0;
  private readonly slots: Slot[];
  private readonly script: URL;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: CopyPoolOptions) {
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.script = options.script ?? DEFAULT_SCRIPT;
    this.slots = Array.from({ length: Math.max(1, options.size) }, () => ({
      worker: undefined,
      pending: new Map(),
    }));
  }

  get size(): number {
    return this.slots.length;
  }

  /** The copy's bytes; rejects with CopyTaskError (the copy failed) or CopyWorkerLost (try elsewhere). */
  make(task: CopyTask): Promise<Buffer> {
    if (this.closed) return Promise.reject(new CopyWorkerLost("the copy pool is closed"));
    const slot = this.slots[slotIndex(task.messageId, this.slots.length)] as Slot;
    const worker = slot.worker ?? this.start(slot);
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      worker.postMessage({ id, task });
    });
  }

  /** Stops the workers; copies still being made are rejected with CopyWorkerLost. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.worker?.terminate()));
  }

  private start(slot: Slot): Worker {
    const worker = spawnWorker(this.script);
    slot.worker = worker;
    // Idle workers must not keep the process alive; the sockets waiting for copies do.
    worker.unref();
    worker.on("message", (reply: CopyReply) => {
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      if (reply.ok)
        pending.resolve(Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.length));
      else pending.reject(new CopyTaskError(reply.error));
    });
    worker.on("error", (error) => {
      this.options.logger?.error(
        { err: error },
        "copy worker failed; its copies are made on the main thread",
      );
    });
    worker.on("exit", (code) => {
      if (slot.worker === worker) slot.worker = undefined;
      if (!this.closed) {
        this.lost++;
        this.options.logger?.warn(
          { code, copies: slot.pending.size },
          "copy worker exited; starting another",
        );
      }
      const orphans = [...slot.pending.values()];
      slot.pending.clear();
      for (const pending of orphans) pending.reject(new CopyWorkerLost(`copy worker exited (code ${code})`));
    });
    return worker;
  }
}

/** The same message always lands on the same worker, whose kept bytes then serve all its copies. */
export function slotIndex(messageId: string, slots: number): number {
  let hash = 0;
  for (let i = 0; i < messageId.length; i++) hash = (hash * 31 + messageId.charCodeAt(i)) | 0;
  return Math.abs(hash) % slots;
}

/**
 * Compiled, the worker is a .js file Node loads itself. From source (tests, tsx), it is a .ts
 * file, and a worker thread on Node 20 does not inherit the parent's tsx loader: register it
 * in the worker first, then load the script.
 */
function spawnWorker(script: URL): Worker {
  if (!script.pathname.endsWith(".ts")) return new Worker(script);
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(
    /\.cjs$/,
    ".mjs",
  );
  const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(script.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`));
}
