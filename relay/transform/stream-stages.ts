/**
 * The stages of one copy as async generators of Buffers: line-ending guard, header-block reader,
 * the mailsplit-driven rewrite, and DKIM. index.ts strings them together.
 */
import type { SplitterObject } from "mailsplit";
import type { DkimKey } from "../accounts/schema.js";
import { fromDomain, KeyCache, keysForDomain, startDkim } from "./dkim.js";
import type { TransformLimits } from "./limits.js";
import { finishLineEndings, fixLineEndings, newLineEndingState } from "./line-endings.js";
import type { MimeRewriter } from "./mime-rewriter.js";
import { SpillBuffer } from "./spill-buffer.js";
import { MimeSplitter } from "./splitter.js";

/**
 * With `finalCrlf`, a copy that does not end in CRLF gets one: SMTP sends one before the final
 * "." anyway, so the signature then covers the bytes the next hop sees (and verifiers that read
 * an unterminated last line differently all agree).
 */
export async function* withCrlfLines(
  chunks: AsyncIterable<Buffer | string>,
  finalCrlf = false,
): AsyncGenerator<Buffer> {
  const state = newLineEndingState();
  let last: Buffer | undefined;
  for await (const chunk of chunks) {
    const fixed = fixLineEndings(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk, state);
    if (fixed.length > 0) {
      last = fixed;
      yield fixed;
    }
  }
  const tail = finishLineEndings(state);
  if (tail.length > 0) {
    last = tail;
    yield tail;
  }
  if (finalCrlf && last && last[last.length - 1] !== 0x0a) yield Buffer.from("\r\n");
}

const SPLIT_SLICE_BYTES = 16 * 1024;

export interface HeaderRead {
  /** The header block including its empty line, or everything read when `complete` is false. */
  header: Buffer;
  /** False when the input ended, or the limit was passed, before an empty line. */
  complete: boolean;
  /** Bytes after `header`. */
  rest: AsyncGenerator<Buffer>;
}

/** Splits a stream at the empty line that ends its top header block (input is CRLF already). */
export async function splitHeaderBlock(chunks: AsyncIterable<Buffer>, maxBytes: number): Promise<HeaderRead> {
  const iterator = chunks[Symbol.asyncIterator]();
  let buffered: Buffer = Buffer.alloc(0);
  for (;;) {
    const end = headerEnd(buffered);
    if (end !== -1)
      return { header: buffered.subarray(0, end), complete: true, rest: restOf(buffered.subarray(end)) };
    if (buffered.length > maxBytes)
      return { header: buffered, complete: false, rest: restOf(Buffer.alloc(0)) };
    const next = await iterator.next();
    if (next.done) return { header: buffered, complete: false, rest: restOf(Buffer.alloc(0)) };
    buffered = buffered.length === 0 ? next.value : Buffer.concat([buffered, next.value]);
  }

  async function* restOf(first: Buffer): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
}

function headerEnd(bytes: Buffer): number {
  if (bytes.length >= 2 && bytes[0] === 0x0d && bytes[1] === 0x0a) return 2;
  const index = bytes.indexOf("\r\n\r\n");
  return index === -1 ? -1 : index + 4;
}

/**
 * Feeds mailsplit and hands its objects to the rewriter. When the rewriter has seen enough (a
 * limit passed), splitting stops and the rest of the input is copied unparsed, so memory stays
 * flat whatever the nesting or part count.
 */
export async function* rewriteWithSplitter(
  chunks: AsyncIterable<Buffer>,
  rewriter: MimeRewriter,
  limits: TransformLimits,
): AsyncGenerator<Buffer> {
  const splitter = new MimeSplitter({
    maxHeadSize: limits.maxNodeHeaderBytes,
    // Our own part limit switches to copying; mailsplit's would fail the whole copy.
    maxChildNodes: Number.MAX_SAFE_INTEGER,
    // Attached messages are content, not ours to edit.
    ignoreEmbedded: true,
  });
  const queue: SplitterObject[] = [];
  splitter.on("data", (object: SplitterObject) => queue.push(object));
  const failure = new Promise<never>((_, reject) => splitter.once("error", reject));
  failure.catch(() => undefined);
  const ended = new Promise<void>((resolve) => splitter.once("end", resolve));

  const drain = (): Buffer[] => {
    const out: Buffer[] = [];
    for (let object = queue.shift(); object; object = queue.shift()) {
      for (const bytes of rewriter.handle(object)) if (bytes.length > 0) out.push(bytes);
    }
    return out;
  };

  const iterator = chunks[Symbol.asyncIterator]();
  try {
    let pending: Buffer | undefined;
    while (!rewriter.wantsRawInput) {
      if (!pending || pending.length === 0) {
        const next = await iterator.next();
        if (next.done) break;
        pending = next.value;
      }
      // Small slices, so a limit stops the splitter within SPLIT_SLICE_BYTES of where it was hit.
      const slice = pending.subarray(0, SPLIT_SLICE_BYTES);
      pending = pending.subarray(slice.length);
      await Promise.race([
        new Promise<void>((resolve, reject) =>
          splitter.write(slice, (err) => (err ? reject(err) : resolve())),
        ),
        failure,
      ]);
      yield* drain();
    }
    splitter.end();
    await Promise.race([ended, failure]);
    yield* drain();
    yield* rewriter.finish();
    if (pending && pending.length > 0) yield pending;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
    splitter.destroy();
  }
}

export interface SignOptions {
  keys: readonly DkimKey[];
  keyCache: KeyCache;
  limits: TransformLimits;
  tmpDir?: string;
  signTime?: Date;
  onSigned?: (domains: string[]) => void;
}

/** Prepends DKIM-Signature fields for the keys that match From; the copy is held until then. */
export async function* signedWithDkim(
  chunks: AsyncIterable<Buffer>,
  options: SignOptions,
): AsyncGenerator<Buffer> {
  if (options.keys.length === 0) {
    yield* chunks;
    return;
  }
  const { header, complete, rest } = await splitHeaderBlock(chunks, options.limits.maxTotalHeaderBytes);
  const keys =
    complete || header.length <= options.limits.maxTotalHeaderBytes
      ? keysForDomain(options.keys, fromDomain(header))
      : [];
  if (keys.length === 0) {
    yield header;
    yield* rest;
    return;
  }
  const session = startDkim(header, keys, options.keyCache, options.signTime);
  const spill = new SpillBuffer(options.limits.maxBufferedOutputBytes, options.tmpDir);
  try {
    await spill.write(header);
    for await (const chunk of rest) {
      session.updateBody(chunk);
      await spill.write(chunk);
    }
    const signatures = session.signatures();
    options.onSigned?.(keys.map((key) => `${key.selector}._domainkey.${key.domain}`));
    yield Buffer.from(signatures, "latin1");
    yield* spill.drain();
  } finally {
    await spill.discard();
  }
}

export { KeyCache };
