/**
 * Reads of a spooled message's bytes (the envelope line is readEntry's, spool.ts): its top
 * header block, the whole message, or a stream of it through a descriptor someone else owns.
 * The one place that knows where a message sits in its spool file.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { headerBlockEnd } from "../mail/header-fields.js";
import type { SpoolEntry } from "./spool.js";

/** Where a message's bytes are: its spool file, their offset in it and their size (SpoolEntry). */
export type MessageLocation = Pick<SpoolEntry, "path" | "bodyOffset" | "size">;

/**
 * The top header block of a message's bytes, cut at `maxBytes` when it has no end before (as
 * readHeaderBlock, for bytes the spool kept in memory).
 */
export function headerBlockOf(bytes: Buffer, maxBytes: number): Buffer {
  const head = bytes.subarray(0, maxBytes);
  // latin1: one character per byte, so the offset is a byte offset.
  const end = headerBlockEnd(head.toString("latin1"));
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
      // latin1: one character per byte, so the offset is a byte offset.
      const end = headerBlockEnd(bytes.toString("latin1"));
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
