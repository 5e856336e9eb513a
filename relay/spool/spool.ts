/**
 * The durable spool: the relay's own queue on local disk, as Postfix keeps its.
 *
 * A message streams into `queue/ID.tmp` (first line: the envelope, then the
 * raw message). On commit the file is fsynced, renamed to `queue/ID.msg` and
 * the directory fsynced; only then does the client hear 250. Commits that
 * arrive together share one directory fsync and run their file fsyncs
 * concurrently (ext4 folds them into one journal commit): group commit.
 * At start-up every `.msg` file is a message to deliver, every `.tmp` file an
 * acceptance that never finished (its client never heard 250), so it is removed.
 */
import { close, createReadStream, fsync, open as openFd, writev } from "node:fs";
import { mkdir, open, readdir, rename, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { promisify } from "node:util";
import type { Logger } from "../log/logger.js";
import { decodeEnvelope, encodeEnvelope, type SpooledEnvelope } from "./envelope.js";
import { progressPath } from "./progress.js";
import { RecentMessages } from "./recent.js";

export interface SpoolEntry {
  id: string;
  envelope: SpooledEnvelope;
  path: string;
  /** Where the message bytes start in the file (after the envelope line). */
  bodyOffset: number;
  /** Size of the message bytes. */
  size: number;
}

export interface SpoolWriter {
  /** The message bytes go here; honour backpressure. */
  readonly stream: Writable;
  /** Makes the message durable (fsync, rename, directory fsync); resolves with its entry. */
  commit(): Promise<SpoolEntry>;
  /** Discards the partial file. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

const openAsync = promisify(openFd);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);

/** Message bytes wait until this many are due, so a small message and its envelope line go out in one write. */
const WRITE_BATCH_BYTES = 64 * 1024;

/**
 * Writes to a descriptor it does not own: unlike fs.WriteStream, destroying it
 * never closes the descriptor, so the spool alone decides when that happens
 * (a double close could close a descriptor another message has reused).
 * Writes are gathered (the envelope line first) and go out together with writev
 * once WRITE_BATCH_BYTES are due or at the end; while the message is small enough
 * for RecentMessages it keeps its parts, for the spool to keep a copy at commit.
 */
class FdWriter extends Writable {
  /** Message bytes taken (the envelope line not counted); all on file once the stream has finished. */
  messageBytes = 0;
  /** The message's parts while it may still be kept in memory; undefined once it is too big. */
  parts: Buffer[] | undefined = [];
  private due: Buffer[];
  private dueBytes: number;
  private position = 0;

  constructor(
    private readonly fd: number,
    envelopeLine: Buffer,
    private readonly keepUpTo: number,
  ) {
    super({ highWaterMark: 256 * 1024 });
    this.due = [envelopeLine];
    this.dueBytes = envelopeLine.length;
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take([chunk], callback);
  }
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.take(
      chunks.map((c) => c.chunk),
      callback,
    );
  }
  override _final(callback: (error?: Error | null) => void): void {
    if (this.due.length === 0) callback();
    else this.writeDue(callback);
  }
  private take(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    for (const buffer of buffers) {
      this.due.push(buffer);
      this.dueBytes += buffer.length;
      this.messageBytes += buffer.length;
    }
    if (this.parts) {
      if (this.messageBytes <= this.keepUpTo) this.parts.push(...buffers);
      else this.parts = undefined;
    }
    if (this.dueBytes >= WRITE_BATCH_BYTES) this.writeDue(callback);
    else callback();
  }
  private writeDue(callback: (error?: Error | null) => void): void {
    const buffers = this.due;
    const expected = this.dueBytes;
    this.due = [];
    this.dueBytes = 0;
    writev(this.fd, buffers, this.position, (error, written) => {
      this.position += written;
      // A short write to a regular file means the disk filled up: fail rather than leave a hole.
      if (!error && written !== expected) {
        error = Object.assign(new Error(`short write (${written} of ${expected} bytes)`), { code: "ENOSPC" });
      }
      callback(error);
    });
  }
}

interface PendingCommit {
  /** A plain descriptor: FileHandle.close() would wait for its stream to release it, which autoClose:false never does. */
  fd: number;
  tmpPath: string;
  finalPath: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Spool {
  readonly queueDir: string;
  /** The bytes of the small messages accepted last (recent.ts): the copy stage reads these, not the files. */
  readonly recent = new RecentMessages();
  private readonly pending: PendingCommit[] = [];
  private flushing = false;
  private freeBytesCache = { at: 0, bytes: Number.POSITIVE_INFINITY };

  private constructor(
    readonly dir: string,
    private readonly logger: Logger,
    private readonly onBatch?: (size: number) => void,
  ) {
    this.queueDir = join(dir, "queue");
  }

  /** Opens (creating) the spool, removes unfinished files, and returns the messages found in it. */
  static async open(options: {
    dir: string;
    logger: Logger;
    onBatch?: (size: number) => void;
  }): Promise<{ spool: Spool; recovered: SpoolEntry[] }> {
    const spool = new Spool(options.dir, options.logger, options.onBatch);
    await mkdir(spool.queueDir, { recursive: true });
    await mkdir(join(options.dir, "corrupt"), { recursive: true });
    const recovered = await spool.scan();
    return { spool, recovered };
  }

  private async scan(): Promise<SpoolEntry[]> {
    const entries: SpoolEntry[] = [];
    for (const name of (await readdir(this.queueDir)).sort()) {
      const path = join(this.queueDir, name);
      if (name.endsWith(".tmp")) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (!name.endsWith(".msg")) continue;
      try {
        entries.push(await readEntry(path));
      } catch (error) {
        // Never delete what may be mail: move it aside for a person to look at.
        const aside = join(this.dir, "corrupt", name);
        await rename(path, aside);
        this.logger.error({ err: error, file: aside }, "unreadable spool file moved aside");
      }
    }
    return entries;
  }

  /**
   * Free bytes on the spool's file system, cached for a second (checked at
   * every MAIL FROM, like Postfix's queue_minfree).
   */
  async freeBytes(now = Date.now()): Promise<number> {
    if (now - this.freeBytesCache.at > 1000) {
      const stats = await statfs(this.queueDir);
      this.freeBytesCache = { at: now, bytes: stats.bavail * stats.bsize };
    }
    return this.freeBytesCache.bytes;
  }

  async create(envelope: SpooledEnvelope): Promise<SpoolWriter> {
    const tmpPath = join(this.queueDir, `${envelope.id}.tmp`);
    const finalPath = join(this.queueDir, `${envelope.id}.msg`);
    const header = encodeEnvelope(envelope);
    const fd = await openAsync(tmpPath, "wx", 0o600);
    const stream = new FdWriter(fd, header, this.recent.limits.maxMessageBytes);
    let state: "open" | "committing" | "done" | "aborted" = "open";
    return {
      stream,
      commit: async () => {
        if (state !== "open") throw new Error(`spool writer for ${envelope.id} is ${state}`);
        state = "committing";
        if (!stream.writableFinished) {
          // The last bytes are written at the end (FdWriter): a failure there stops the commit.
          stream.end();
          try {
            await finished(stream);
          } catch (error) {
            state = "aborted";
            await closeAsync(fd).catch(() => undefined);
            await unlink(tmpPath).catch(() => undefined);
            throw error;
          }
        }
        await new Promise<void>((resolve, reject) =>
          this.enqueue({ fd, tmpPath, finalPath, resolve, reject }),
        );
        state = "done";
        const size = stream.messageBytes;
        if (stream.parts) this.recent.keep(finalPath, stream.parts, size);
        return { id: envelope.id, envelope, path: finalPath, bodyOffset: header.length, size };
      },
      abort: async () => {
        if (state === "done" || state === "aborted") return;
        const wasOpen = state === "open";
        state = "aborted";
        if (wasOpen) {
          // After a commit started, the group commit owns and closes the descriptor instead.
          stream.destroy();
          await closeAsync(fd).catch(() => undefined);
        }
        await unlink(tmpPath).catch(() => undefined);
        if (!wasOpen) await unlink(finalPath).catch(() => undefined);
      },
    };
  }

  private enqueue(commit: PendingCommit): void {
    this.pending.push(commit);
    if (!this.flushing) {
      this.flushing = true;
      // Let every DATA that finished in this turn of the event loop join the batch.
      setImmediate(() => void this.flush());
    }
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      this.onBatch?.(batch.length);
      const synced = await Promise.allSettled(
        batch.map(async (c) => {
          try {
            await fsyncAsync(c.fd);
          } finally {
            await closeAsync(c.fd).catch(() => undefined);
          }
          await rename(c.tmpPath, c.finalPath);
        }),
      );
      let dirError: Error | undefined;
      try {
        const dir = await open(this.queueDir, "r");
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      } catch (error) {
        dirError = error as Error;
      }
      synced.forEach((result, i) => {
        const commit = batch[i] as PendingCommit;
        const error = result.status === "rejected" ? (result.reason as Error) : dirError;
        if (error) {
          // Not durable: the client must not hear 250. Remove what is left.
          void unlink(commit.tmpPath).catch(() => undefined);
          void unlink(commit.finalPath).catch(() => undefined);
          commit.reject(error);
        } else commit.resolve();
      });
    }
    this.flushing = false;
  }

  /** The message bytes (without the envelope line). */
  read(entry: SpoolEntry, options: { highWaterMark?: number } = {}): Readable {
    const kept = this.recent.get(entry.path);
    if (kept) return Readable.from([kept], { objectMode: false });
    return createReadStream(entry.path, {
      start: entry.bodyOffset,
      highWaterMark: options.highWaterMark ?? 65536,
    });
  }

  /**
   * Called when every recipient is done (delivered, bounced with a notice, or refused).
   * Also removes its progress file (progress.ts), after the message, so a crash in between
   * leaves an orphan, never a message without its progress; `progress: false` skips that
   * unlink when the caller knows there is none.
   */
  async remove(id: string, options: { progress?: boolean } = {}): Promise<void> {
    const ignoreMissing = (error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    };
    const path = join(this.queueDir, `${id}.msg`);
    this.recent.drop(path);
    await unlink(path).catch(ignoreMissing);
    if (options.progress ?? true) await unlink(progressPath(this.queueDir, id)).catch(ignoreMissing);
  }

  async list(): Promise<string[]> {
    return (await readdir(this.queueDir))
      .filter((n) => n.endsWith(".msg"))
      .map((n) => n.slice(0, -4))
      .sort();
  }
}

/** Reads the envelope line of a spool file. */
export async function readEntry(path: string): Promise<SpoolEntry> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    let buffer = Buffer.alloc(0);
    let position = 0;
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) throw new Error("spool file has no envelope line");
      buffer = Buffer.concat([buffer, chunk.subarray(0, bytesRead)]);
      position += bytesRead;
      const newline = buffer.indexOf(10);
      if (newline !== -1) {
        const envelope = decodeEnvelope(buffer.subarray(0, newline).toString("utf8"));
        const bodyOffset = newline + 1;
        return { id: envelope.id, envelope, path, bodyOffset, size: size - bodyOffset };
      }
      if (buffer.length > 16 * 1024 * 1024) throw new Error("spool envelope line too long");
    }
  } finally {
    await handle.close();
  }
}
