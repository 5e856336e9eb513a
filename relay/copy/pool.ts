/**
 * Copy workers: worker threads that make every per-recipient copy (transform +
 * DKIM) so the main thread, which runs the SMTP sessions, the spool and the
 * Store, never parses a body. Per copy that work is most of the relay's CPU
 * (RSA-2048 signing alone ~0.3 ms), and a hostile body can make it slow.
 *
 * - One copy at a time per worker, each with a deadline (dispatch.ts
 *   `copyDeadlineMs`). Node 20 has no per-thread CPU clock, so the deadline
 *   is wall-clock time from the moment this worker starts this copy: the
 *   worker is busy with nothing else meanwhile, so on a loaded machine it
 *   errs towards patience. Past it the worker is terminated (a busy loop in a
 *   regex cannot be interrupted any other way) and the copy rejected with
 *   CopyDeadlineExceeded; the next copy starts a fresh worker.
 * - Copies wait in the pool's queue, taken in turn by account (dispatch.ts
 *   `TurnQueue`), and go to an idle worker, preferring the one that made the
 *   message's last copy (it kept the bytes). When every
 *   worker has been stuck on one copy past `spareAfterMs`, a spare worker is
 *   started (at most `spares`), so a slow copy holds up nothing queued behind it.
 * - Small messages' copies come back as bytes; copies of messages over
 *   `maxInlineBytes` are streamed by the worker into a file under `copiesDir`
 *   that the caller streams to the next hop and removes.
 * - A worker that dies (a crash, memory) rejects its copy with CopyWorkerLost;
 *   the message stays in the spool throughout.
 *
 * `onCopyStart`/`onCopyEnd` frame the time a worker works on a message (the
 * in-flight journal, relay/spool/in-flight.ts).
 */
import { close, open } from "node:fs";
import { unlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import type { Logger } from "../log/logger.js";
import {
  type CopyDeadline,
  chooseWorker,
  copyDeadlineMs,
  DEFAULT_COPY_DEADLINE,
  type DispatchLimits,
  TurnQueue,
} from "./dispatch.js";
import type { CopyFailure, CopyReply, CopyTask, CopyWorkerReady } from "./task.js";

/**
 * The worker making this copy went away before answering; nothing is known about the copy.
 * `beforeReady`: it died while still loading, so the copy had nothing to do with it.
 */
export class CopyWorkerLost extends Error {
  constructor(
    message: string,
    readonly beforeReady = false,
  ) {
    super(message);
  }
}

/** The pool was closed (the relay is stopping): the copy was not made, through no fault of the message. */
export class CopyPoolClosed extends Error {}

/** The copy took longer than its deadline; its worker was terminated. */
export class CopyDeadlineExceeded extends Error {
  constructor(readonly deadlineMs: number) {
    super(`the copy took longer than its deadline (${(deadlineMs / 1000).toFixed(1)} s)`);
  }
}

/** The copy was given up (`cancel`: its message was taken out of the queue meanwhile). */
export class CopyCancelled extends Error {}

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

/** A copy: in memory, or (big messages) in a file the caller now owns. */
export type MadeCopy = { kind: "bytes"; bytes: Buffer } | { kind: "file"; path: string; size: number };

export interface CopyPoolOptions {
  /** Worker threads kept (at least 1). */
  size: number;
  /** Extra workers started while others are stuck on slow copies. Default: `size`. */
  spares?: number;
  /** A worker on one copy this long counts as stuck. Default 1000 ms. */
  spareAfterMs?: number;
  deadline?: CopyDeadline;
  /** Copies of bigger messages are streamed to a file under `copiesDir`. Default 1 MiB. */
  maxInlineBytes?: number;
  /** Where copies of big messages are written (the caller clears it at start-up). */
  copiesDir?: string;
  /** The worker's script; worker.ts by default (tests give one that crashes or hangs). */
  script?: URL;
  logger?: Logger;
  onCopyStart?: (messageId: string) => void;
  onCopyEnd?: (messageId: string) => void;
  now?: () => number;
}

/** A big copy's output file and the descriptors the pool opened for it (task.ts `fds`). */
interface OwnedFiles {
  path: string;
  input: number;
  output: number;
}

interface Request {
  id: number;
  task: CopyTask;
  files: OwnedFiles | undefined;
  resolve: (copy: MadeCopy) => void;
  reject: (error: Error) => void;
}

interface Running {
  request: Request;
  since: number;
  /** Armed once the worker is ready. */
  timer: NodeJS.Timeout | undefined;
}

interface Slot {
  worker: Worker;
  running: Running | undefined;
  lastMessage: string | undefined;
  spare: boolean;
  /** The worker said it has loaded (worker.ts posts `{ready: true}`). */
  ready: boolean;
  /** Terminated by the pool (deadline, cancel, retired): its exit is no loss. */
  ended: boolean;
}

const DEFAULT_SCRIPT = new URL(
  import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js",
  import.meta.url,
);

export class CopyPool {
  readonly maxInlineBytes: number;
  /** Workers lost so far (crashes; for tests and the log). */
  lost = 0;
  /** Workers terminated at a copy's deadline so far. */
  timedOut = 0;
  private readonly slots: Slot[] = [];
  private readonly queue = new TurnQueue<Request>();
  private readonly limits: DispatchLimits;
  private readonly deadline: CopyDeadline;
  private readonly script: URL;
  private readonly now: () => number;
  private recheck: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: CopyPoolOptions) {
    const size = Math.max(1, options.size);
    this.limits = {
      size,
      spares: Math.max(0, options.spares ?? size),
      spareAfterMs: options.spareAfterMs ?? 1000,
    };
    this.deadline = options.deadline ?? DEFAULT_COPY_DEADLINE;
    this.maxInlineBytes = options.maxInlineBytes ?? 1024 * 1024;
    this.script = options.script ?? DEFAULT_SCRIPT;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.limits.size;
  }

  /** Workers running now (spares included). */
  get workers(): number {
    return this.slots.length;
  }

  /**
   * The copy; rejects with CopyTaskError (the copy failed), CopyDeadlineExceeded,
   * CopyWorkerLost (the worker died), CopyCancelled or CopyPoolClosed.
   */
  make(task: CopyTask): Promise<MadeCopy> {
    if (this.closed) return Promise.reject(new CopyPoolClosed("the copy pool is closed"));
    const id = this.nextId++;
    if (task.size <= this.maxInlineBytes)
      return new Promise<MadeCopy>((resolve, reject) => {
        this.queue.push(task.account.name, { id, task, files: undefined, resolve, reject });
        this.dispatch();
      });
    return (async () => this.openFiles(task, join(this.copiesDir(), `${task.messageId}-${id}.copy`)))().then(
      (files) =>
        new Promise<MadeCopy>((resolve, reject) => {
          const owned = { ...task, output: files.path, fds: { input: files.input, output: files.output } };
          if (this.closed) {
            void releaseFiles(files, false);
            reject(new CopyPoolClosed("the copy pool is closed"));
            return;
          }
          this.queue.push(task.account.name, { id, task: owned, files, resolve, reject });
          this.dispatch();
        }),
    );
  }

  /** The spool file to read and the copy's file to write, opened here so that this thread closes them. */
  private async openFiles(task: CopyTask, path: string): Promise<OwnedFiles> {
    const input = await openFd(task.path, "r");
    try {
      return { path, input, output: await openFd(path, "wx", 0o600) };
    } catch (error) {
      await closeFd(input).catch(() => undefined);
      throw error;
    }
  }

  /** Gives up every copy of `messageId`, queued or under way (its workers are terminated). */
  cancel(messageId: string, why = "the message was taken out of the queue"): void {
    for (const request of this.queue.remove((queued) => queued.task.messageId === messageId)) {
      if (request.files) void releaseFiles(request.files, false);
      request.reject(new CopyCancelled(why));
    }
    for (const slot of [...this.slots])
      if (slot.running?.request.task.messageId === messageId) this.abort(slot, new CopyCancelled(why));
    this.dispatch();
  }

  /** Stops the workers; copies queued or under way are rejected with CopyPoolClosed. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.recheck);
    for (const request of this.queue.remove(() => true)) {
      if (request.files) void releaseFiles(request.files, false);
      request.reject(new CopyPoolClosed("the copy pool is closed"));
    }
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map((slot) => {
        slot.ended = true;
        const stopped = slot.worker.terminate();
        this.finish(slot, { error: new CopyPoolClosed("the copy pool is closed") }, stopped);
        return stopped;
      }),
    );
  }

  private copiesDir(): string {
    if (!this.options.copiesDir) throw new Error("copy pool: copiesDir is needed for big messages");
    return this.options.copiesDir;
  }

  private dispatch(): void {
    clearTimeout(this.recheck);
    this.recheck = undefined;
    while (!this.closed && this.queue.length > 0) {
      const next = this.queue.peek() as Request;
      const now = this.now();
      const decision = chooseWorker(
        // A worker still loading is busy but not stuck: a spare for it would only load beside it.
        this.slots.map((slot) => ({
          busySince: slot.running && (slot.ready ? slot.running.since : now),
          lastMessage: slot.lastMessage,
        })),
        next.task.messageId,
        this.limits,
        now,
      );
      if (decision.kind === "wait") {
        if (decision.recheckAt !== undefined) {
          this.recheck = setTimeout(() => this.dispatch(), Math.max(1, decision.recheckAt - now));
          this.recheck.unref();
        }
        return;
      }
      this.queue.shift();
      const slot =
        decision.kind === "worker" ? (this.slots[decision.index] as Slot) : this.start(decision.spare);
      this.run(slot, next, now);
    }
    this.retireSpares();
  }

  private run(slot: Slot, request: Request, now: number): void {
    slot.running = { request, since: now, timer: undefined };
    slot.lastMessage = request.task.messageId;
    if (slot.ready) this.armDeadline(slot);
    this.options.onCopyStart?.(request.task.messageId);
    slot.worker.postMessage({ id: request.id, task: request.task });
  }

  /** From when the worker can work on the copy: a worker's start-up (loading modules) is not the copy's. */
  private armDeadline(slot: Slot): void {
    const running = slot.running;
    if (!running || running.timer) return;
    const { request } = running;
    const deadlineMs = copyDeadlineMs(request.task.size, this.deadline);
    running.since = this.now();
    running.timer = setTimeout(() => {
      this.timedOut++;
      this.options.logger?.warn(
        { id: request.task.messageId, deadlineMs },
        "copy past its deadline; its worker is terminated",
      );
      this.abort(slot, new CopyDeadlineExceeded(deadlineMs));
      this.dispatch();
    }, deadlineMs);
    running.timer.unref();
  }

  /**
   * Ends the slot's copy with `outcome` (once) and frees the slot. A big copy's descriptors are
   * closed once the worker is done with them (`workerStopped`, when it was terminated), and
   * its file removed unless it is the copy handed over.
   */
  private finish(
    slot: Slot,
    outcome: { copy: MadeCopy } | { error: Error },
    workerStopped?: Promise<unknown>,
  ): void {
    const running = slot.running;
    if (!running) return;
    slot.running = undefined;
    clearTimeout(running.timer);
    if (running.request.files) void releaseFiles(running.request.files, "copy" in outcome, workerStopped);
    this.options.onCopyEnd?.(running.request.task.messageId);
    if ("copy" in outcome) running.request.resolve(outcome.copy);
    else running.request.reject(outcome.error);
  }

  private abort(slot: Slot, error: Error): void {
    this.remove(slot);
    this.finish(slot, { error }, slot.worker.terminate());
  }

  private remove(slot: Slot): void {
    slot.ended = true;
    const at = this.slots.indexOf(slot);
    if (at !== -1) this.slots.splice(at, 1);
  }

  /**
   * Idle workers beyond what the pool needs leave: it keeps `size` workers that are not stuck
   * (a spare stays while the worker it stands in for is stuck, so the next copy need not wait
   * for a new worker to start).
   */
  private retireSpares(): void {
    if (this.queue.length > 0) return;
    const now = this.now();
    const stuck = this.slots.filter(
      (slot) => slot.running && slot.ready && now - slot.running.since >= this.limits.spareAfterMs,
    ).length;
    for (const slot of [...this.slots]) {
      if (this.slots.length - stuck <= this.limits.size) return;
      if (slot.running) continue;
      this.remove(slot);
      void slot.worker.terminate();
    }
  }

  private start(spare: boolean): Slot {
    if (spare)
      this.options.logger?.info(
        { workers: this.slots.length, queued: this.queue.length },
        "copy workers stuck on slow copies; starting a spare",
      );
    const worker = spawnWorker(this.script);
    const slot: Slot = {
      worker,
      running: undefined,
      lastMessage: undefined,
      spare,
      ready: false,
      ended: false,
    };
    this.slots.push(slot);
    // Idle workers must not keep the process alive; the sockets waiting for copies do.
    worker.unref();
    worker.on("message", (reply: CopyReply | CopyWorkerReady) => {
      if ("ready" in reply) {
        slot.ready = true;
        this.armDeadline(slot);
        return;
      }
      if (slot.running?.request.id !== reply.id) return;
      if (!reply.ok) this.finish(slot, { error: new CopyTaskError(reply.error) });
      else if ("file" in reply) this.finish(slot, { copy: { kind: "file", ...reply.file } });
      else
        this.finish(slot, {
          copy: {
            kind: "bytes",
            bytes: Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.length),
          },
        });
      this.dispatch();
    });
    worker.on("error", (error) => {
      this.options.logger?.error({ err: error }, "copy worker failed");
    });
    worker.on("exit", (code) => {
      if (slot.ended) return;
      this.lost++;
      this.options.logger?.warn(
        { code, id: slot.running?.request.task.messageId },
        "copy worker exited; starting another",
      );
      this.finish(slot, {
        error: new CopyWorkerLost(
          slot.ready
            ? `copy worker exited (code ${code})`
            : `copy worker exited while starting (code ${code})`,
          !slot.ready,
        ),
      });
      this.remove(slot);
      this.dispatch();
    });
    return slot;
  }
}

const openFd = promisify(open);
const closeFd = promisify(close);

async function releaseFiles(files: OwnedFiles, keep: boolean, after?: Promise<unknown>): Promise<void> {
  await after?.catch(() => undefined);
  await closeFd(files.input).catch(() => undefined);
  await closeFd(files.output).catch(() => undefined);
  if (!keep) await unlink(files.path).catch(() => undefined);
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
