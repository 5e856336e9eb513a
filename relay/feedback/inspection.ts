/**
 * The inspection folder: feedback the relay could not act on (unparseable,
 * unattributable, an ARF auth-failure report) is written here before the
 * sender hears 250, so nothing that came back is ever silently dropped.
 * One file per message: a trace header saying why and from whom, then the
 * message exactly as received. Written to a temporary name, fsynced, then
 * renamed, so a crash leaves either the whole file or none.
 *
 * Strangers decide what lands here, and the folder shares the spool's volume
 * (a full disk refuses all mail), so it is bounded three ways: a file count,
 * a byte total and an age. A new file that would pass a cap pushes the
 * oldest out (the newest report is the one a person is likeliest to look
 * for); files past the age are removed at start and on a timer. Ordinary
 * mail is never refused because of this folder.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";

export interface KeptMessage {
  reason: string;
  mailFrom: string;
  rcptTo: string[];
  clientIp: string;
  at: number;
  /** Present when the return path named one. */
  messageId?: string;
}

export interface InspectionLimits {
  maxFiles: number;
  maxBytes: number;
  /** Files older than this are removed. */
  keepMs: number;
}

/** What a message to keep is read from: its size, and its bytes in order, chunk by chunk. */
export interface KeptSource {
  size: number;
  chunks(): AsyncIterable<Buffer>;
}

export interface KeptFile {
  name: string;
  size: number;
  /** When it was written (ms). */
  at: number;
  /** Still being written: never chosen for removal. */
  pending?: boolean;
}

/**
 * Which files go (pure): the expired ones, then the oldest until the folder,
 * with `incoming` added, is within both caps. `files` is oldest first;
 * pending files are never chosen, so a cap can be passed for as long as they
 * are being written.
 */
export function filesToRemove(
  files: readonly KeptFile[],
  limits: InspectionLimits,
  now: number,
  incoming?: { size: number },
): string[] {
  const remove: string[] = [];
  let count = files.length + (incoming ? 1 : 0);
  let bytes = files.reduce((total, file) => total + file.size, 0) + (incoming?.size ?? 0);
  for (const file of files) {
    if (file.pending) continue;
    const expired = file.at < now - limits.keepMs;
    if (!expired && count <= limits.maxFiles && bytes <= limits.maxBytes) continue;
    remove.push(file.name);
    count--;
    bytes -= file.size;
  }
  return remove;
}

export class InspectionFolder {
  /** Oldest first. */
  private kept: KeptFile[] = [];
  private sweeper: NodeJS.Timeout | undefined;

  private constructor(
    readonly dir: string,
    private readonly limits: InspectionLimits,
    private readonly now: () => number,
  ) {}

  static async open(
    dir: string,
    limits: InspectionLimits,
    now: () => number = Date.now,
  ): Promise<InspectionFolder> {
    await mkdir(dir, { recursive: true });
    const folder = new InspectionFolder(dir, limits, now);
    const found: KeptFile[] = [];
    for (const name of await readdir(dir)) {
      if (name.endsWith(".tmp")) {
        await unlink(join(dir, name)).catch(() => undefined);
        continue;
      }
      if (!name.endsWith(".eml")) continue;
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (info?.isFile()) found.push({ name, size: info.size, at: info.mtimeMs });
    }
    folder.kept = found.sort((a, b) => a.at - b.at || a.name.localeCompare(b.name));
    await folder.sweep();
    return folder;
  }

  get files(): number {
    return this.kept.length;
  }

  get bytes(): number {
    return this.kept.reduce((total, file) => total + file.size, 0);
  }

  /** Removes expired files and whatever is over the caps (a config lowered since they were written). */
  async sweep(): Promise<number> {
    return this.remove(filesToRemove(this.kept, this.limits, this.now()));
  }

  /** Sweeps every `intervalMs` until close(). */
  startSweeping(intervalMs: number, onError: (error: unknown) => void): void {
    this.sweeper ??= setInterval(() => {
      this.sweep().catch(onError);
    }, intervalMs);
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Writes the message (making room first); resolves with its file name once it is durable. */
  async keep(source: Buffer | KeptSource, meta: KeptMessage): Promise<string> {
    const from = Buffer.isBuffer(source) ? bufferSource(source) : source;
    const name = `${new Date(meta.at).toISOString().replace(/[:.]/g, "-")}-${randomBytes(6).toString("hex")}.eml`;
    const trace = Buffer.from(`X-Relayfleet-Feedback: ${traceValue(meta)}\r\n`, "utf8");
    const entry: KeptFile = { name, size: trace.length + from.size, at: this.now(), pending: true };
    // Room is made, and the new file counted, before any await: concurrent reports see each other.
    const removing = this.remove(filesToRemove(this.kept, this.limits, entry.at, entry));
    this.kept.push(entry);
    const temporary = join(this.dir, `${name}.tmp`);
    try {
      await removing;
      const handle = await open(temporary, "w", 0o640);
      try {
        await handle.write(trace);
        for await (const chunk of from.chunks()) await handle.write(chunk);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, join(this.dir, name));
    } catch (error) {
      this.kept = this.kept.filter((file) => file !== entry);
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
    entry.pending = false;
    return name;
  }

  private async remove(names: string[]): Promise<number> {
    if (names.length === 0) return 0;
    const gone = new Set(names);
    this.kept = this.kept.filter((file) => !gone.has(file.name));
    await Promise.all(names.map((name) => unlink(join(this.dir, name)).catch(() => undefined)));
    return names.length;
  }
}

function bufferSource(buffer: Buffer): KeptSource {
  return {
    size: buffer.length,
    async *chunks() {
      yield buffer;
    },
  };
}

function traceValue(meta: KeptMessage): string {
  const clean = (text: string) =>
    // biome-ignore lint/suspicious/noControlCharactersInRegex: keeping the trace header one line is the point
    text.replace(/[\u0000-\u001f\u007f;]+/g, " ").slice(0, 300);
  const parts = [
    `reason=${clean(meta.reason)}`,
    `from=<${clean(meta.mailFrom)}>`,
    `to=${meta.rcptTo.map((address) => `<${clean(address)}>`).join(",")}`,
    `ip=${clean(meta.clientIp)}`,
    `at=${new Date(meta.at).toISOString()}`,
    ...(meta.messageId ? [`message=${meta.messageId}`] : []),
  ];
  return parts.join("; ");
}
