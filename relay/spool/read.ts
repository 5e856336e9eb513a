/**
 * Reads of a spooled message's bytes (the envelope line is readEntry's, spool.ts): its top
 * header block, the whole message, or a stream of it through a descriptor someone else owns.
 * The one place that knows where a message sits in its spool file.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import type { SpoolEntry } from "./spool.js";

/** Where a message's bytes are: its spool file, their offset in it and their size (SpoolEntry). */
export type MessageLocation = Pick<SpoolEntry, "path" | "bodyOffset" | "size">;

/**
 * Where the top header block of `bytes` ends: after its last field's line break, before the
 * empty line (CRLF or bare LF) that ends it; -1 when there is no empty line in them.
 */
export function headerBlockEnd(bytes: Buffer): number {
  const crlf = bytes.indexOf("\r\n\r\n");
  const lf = bytes.indexOf("\n\n");
  const ends = [crlf === -1 ? -1 : crlf + 2, lf === -1 ? -1 : lf + 1].filter((n) => n >= 0);
  return ends.length > 0 ? Math.min(...ends) : -1;
}

/** The top header block of a message's bytes, cut at `maxBytes` when it has no end before (as readHeaderBlock). */
export function headerBlockOf(bytes: Buffer, maxBytes: number): Buffer {
  const head = bytes.subarray(0, maxBytes);
  const end = headerBlockEnd(head);
  return end === -1 ? head : head.subarray(0, end);
}

/**
 * A spooled message's top header block, cut at `maxBytes` when it has no end before (one small
 * read in the common case).
 */
export async function readHeaderBlock(
  entry: Pick<SpoolEntry, "path" | "bodyOffset">,
  maxBytes: number,
): Promise<Buffer> {
  const handle = await open(entry.path, "r");
  try {
    let size = Math.min(4096, maxBytes);
    for (;;) {
      const buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(buffer, 0, size, entry.bodyOffset);
      const bytes = buffer.subarray(0, bytesRead);
      const end = headerBlockEnd(bytes);
      if (end !== -1) return bytes.subarray(0, end);
      if (bytesRead < size || size >= maxBytes) return bytes;
      size = maxBytes;
    }
  } finally {
    await handle.close();
  }
}

/** A spooled message's bytes, whole; a file shorter than its entry says gives what is there, as a stream would. */
export async function readMessage(location: MessageLocation): Promise<Buffer> {
  const handle = await open(location.path, "r");
  try {
    const bytes = Buffer.allocUnsafe(location.size);
    let done = 0;
    while (done < location.size) {
      const { bytesRead } = await handle.read(bytes, done, location.size - done, location.bodyOffset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return bytes.subarray(0, done);
  } finally {
    await handle.close();
  }
}

/**
 * A spooled message's bytes streamed through `fd`, a descriptor for its spool file that the
 * caller opened and closes (the stream never does).
 */
export function streamMessage(location: MessageLocation, fd: number): Readable {
  if (location.size === 0) return Readable.from([]);
  return createReadStream(location.path, {
    fd,
    autoClose: false,
    start: location.bodyOffset,
    end: location.bodyOffset + location.size - 1,
    highWaterMark: 64 * 1024,
  });
}
