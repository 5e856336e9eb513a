/**
 * What the main thread and a copy worker (worker.ts) say to each other:
 * one task per recipient's copy, answered with the copy's bytes (small
 * messages), the file the copy was streamed to (big ones), or the error that
 * stopped it. Everything here is structured-clone safe, and the helpers are
 * pure, so both sides (and the tests) share them.
 */
import type { Account } from "../accounts/schema.js";
import type { TokenKeyring } from "../tracking/token.js";
import type { RelayInstructions } from "./instructions.js";

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
  /** The message's X-Relay-* headers, read once at admission (instructions.ts). */
  instructions: RelayInstructions;
  /**
   * The message's bytes when the spool still holds them (relay/spool/recent.ts, small messages
   * just accepted): the worker makes the copy from these and reads nothing from the spool.
   */
  bytes?: Uint8Array;
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
