/**
 * What the main thread and a copy worker (copy-worker.ts) say to each other:
 * one task per recipient's copy, answered with the copy's bytes (small
 * messages), the file the copy was streamed to (big ones), or the error that
 * stopped it. Everything here is structured-clone safe, and the helpers are
 * pure, so both sides (and the tests) share them.
 */
import type { Account } from "../accounts/schema.js";
import type { TokenKeyring } from "../tracking/token.js";
import { readRelayHeaders } from "../transform/index.js";

export interface CopyTask {
  /** The spool file, where the message starts in it, and its size (SpoolEntry). */
  path: string;
  bodyOffset: number;
  size: number;
  messageId: string;
  recipient: string;
  envelopeFrom: string;
  mode: "full" | "passthrough";
  account: Account;
  trackingBaseUrl: string;
  tokenKeys: TokenKeyring;
  /** X-Relay-Track as already read; absent: the worker reads it from the message. */
  overrides?: { opens?: boolean; clicks?: boolean };
  /** DKIM t= in ms (tests); now by default. */
  signTime?: number;
  /**
   * Stream the copy to this file instead of answering with its bytes (set by the pool for big
   * messages, so neither thread ever holds a whole copy). The main thread owns the file.
   */
  output?: string;
  /**
   * With `output`: descriptors the main thread opened for the spool file and the output file.
   * The worker reads and writes through them and never closes them, so a worker terminated
   * mid-copy leaks nothing: the pool closes them once the worker has stopped.
   */
  fds?: { input: number; output: number };
}

export interface CopyFailure {
  message: string;
  /** Node's errno fields: set when reading the spool failed (ours to retry, not the message's fault). */
  code?: string;
  syscall?: string;
}

export type CopyReply =
  | { id: number; ok: true; bytes: Uint8Array }
  | { id: number; ok: true; file: { path: string; size: number } }
  | { id: number; ok: false; error: CopyFailure };

/** Posted once by a worker when its modules are loaded: copies' deadlines run from then. */
export interface CopyWorkerReady {
  ready: true;
}

export interface CopyRequestMessage {
  id: number;
  task: CopyTask;
}

const MAX_HEADER_BYTES = 1024 * 1024;

/** The top header block of a raw message, empty line included (what notify's readHeaderBlock reads from a file). */
export function headerBlockOf(message: Buffer): Buffer {
  const bytes = message.subarray(0, MAX_HEADER_BYTES);
  const crlf = bytes.indexOf("\r\n\r\n");
  const lf = bytes.indexOf("\n\n");
  const ends = [crlf === -1 ? -1 : crlf + 2, lf === -1 ? -1 : lf + 1].filter((n) => n >= 0);
  return ends.length > 0 ? bytes.subarray(0, Math.min(...ends)) : bytes;
}

/** X-Relay-Track of a raw message; the intake refused bad values, so a failure here means "none". */
export function trackOverridesOf(headerBlock: Buffer): { opens?: boolean; clicks?: boolean } | undefined {
  try {
    const { track } = readRelayHeaders(headerBlock);
    return Object.keys(track).length > 0 ? track : undefined;
  } catch {
    return undefined;
  }
}

/** A thrown value as a CopyFailure (the errno fields kept, so the main thread can classify it). */
export function copyFailure(error: unknown): CopyFailure {
  const errno = error as NodeJS.ErrnoException;
  return {
    message: error instanceof Error ? error.message : String(error),
    ...(typeof errno?.code === "string" ? { code: errno.code } : {}),
    ...(typeof errno?.syscall === "string" ? { syscall: errno.syscall } : {}),
  };
}

/** A keyring after a structured clone: its Buffers arrive as plain Uint8Arrays. */
export function revivedKeyring(keys: TokenKeyring): TokenKeyring {
  const revive = (key: TokenKeyring["current"]) => ({
    id: key.id,
    secret: Buffer.from(key.secret.buffer, key.secret.byteOffset, key.secret.byteLength),
  });
  return {
    current: revive(keys.current),
    ...(keys.previous ? { previous: keys.previous.map(revive) } : {}),
  };
}
