/**
 * Reports on their way in are written to a file as they arrive, never held
 * whole in memory: a thousand strangers each sending a 10 MB "bounce" at
 * once would otherwise cost 10 GB. The receiver then reads the file back in
 * bounded pieces: the head for the MIME parser (the report parts come first;
 * what follows is the returned message), and the whole file in overlapping
 * chunks for the tokens that name the message.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { KeptSource } from "./inspection.js";

/** Bytes of a report the MIME parser reads. */
export const PARSE_HEAD_BYTES = 1024 * 1024;
/** Bytes read at a time when searching a report for tokens. */
const SCAN_CHUNK_BYTES = 256 * 1024;
/** Carried from one chunk into the next, so a token across the boundary is still found whole. */
const SCAN_OVERLAP_BYTES = 4096;

export interface ReceivedReport extends KeptSource {
  readonly path: string;
  /** Past maxBytes: nothing past it was written. */
  readonly tooLarge: boolean;
  /** The first `bytes` of the report. */
  head(bytes: number): Promise<Buffer>;
  /** The report as latin1 text, in overlapping pieces of bounded size. */
  texts(): AsyncIterable<string>;
  discard(): Promise<void>;
}

/** Thrown (after the stream is read to its end) when `maxConcurrent` reports are already arriving. */
export class IncomingBusyError extends Error {
  override readonly name = "IncomingBusyError";
}

export class IncomingReports {
  private active = 0;

  private constructor(
    readonly dir: string,
    private readonly maxConcurrent: number,
  ) {}

  /**
   * Files left by a relay that stopped mid-report were never acknowledged:
   * removed. At most `maxConcurrent` reports arrive at once, so the files
   * here never pass maxConcurrent × maxBytes on the spool's volume.
   */
  static async open(dir: string, maxConcurrent: number): Promise<IncomingReports> {
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) await unlink(join(dir, name)).catch(() => undefined);
    return new IncomingReports(dir, maxConcurrent);
  }

  /**
   * Writes the stream to a file of its own, stopping at `maxBytes` but reading
   * to the end (smtp-server needs that to answer). Rejects on a stream or
   * write error, leaving no file.
   */
  async receive(stream: Readable, maxBytes: number): Promise<ReceivedReport> {
    if (this.active >= this.maxConcurrent) {
      for await (const _ of stream) {
        // Read to the end unwritten: smtp-server answers only after that.
      }
      throw new IncomingBusyError("too many reports arriving at once");
    }
    this.active++;
    try {
      return await this.write(stream, maxBytes);
    } finally {
      this.active--;
    }
  }

  private async write(stream: Readable, maxBytes: number): Promise<ReceivedReport> {
    const path = join(this.dir, `${randomBytes(9).toString("hex")}.part`);
    const handle = await open(path, "wx", 0o600);
    let size = 0;
    let written = 0;
    let writeError: unknown;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (writeError !== undefined || size > maxBytes) continue;
        try {
          await handle.write(chunk);
          written += chunk.length;
        } catch (error) {
          writeError = error;
        }
      }
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw error;
    }
    await handle.close();
    if (writeError !== undefined) {
      await unlink(path).catch(() => undefined);
      throw writeError;
    }
    return fileReport(path, written, size > maxBytes);
  }
}

function fileReport(path: string, size: number, tooLarge: boolean): ReceivedReport {
  async function* read(chunkBytes: number): AsyncIterable<Buffer> {
    const handle = await open(path, "r");
    try {
      for (let position = 0; position < size; ) {
        const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
  return {
    path,
    size,
    tooLarge,
    chunks: () => read(SCAN_CHUNK_BYTES),
    async head(bytes) {
      const handle = await open(path, "r");
      try {
        const buffer = Buffer.allocUnsafe(Math.min(bytes, size));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
    async *texts() {
      let carry = "";
      for await (const chunk of read(SCAN_CHUNK_BYTES)) {
        const text = carry + chunk.toString("latin1");
        yield text;
        carry = text.slice(-SCAN_OVERLAP_BYTES);
      }
    },
    discard: () => unlink(path).catch(() => undefined),
  };
}

/** The same view of a report already in memory (tests, and callers that have the bytes). */
export function bufferReport(raw: Buffer): Omit<ReceivedReport, "path" | "discard"> {
  return {
    size: raw.length,
    tooLarge: false,
    async *chunks() {
      yield raw;
    },
    head: async (bytes) => raw.subarray(0, bytes),
    async *texts() {
      yield raw.toString("latin1");
    },
  };
}
