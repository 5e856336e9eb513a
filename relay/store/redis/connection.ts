/**
 * The Redis connections and the one place where client failures become
 * StoreError codes.
 *
 * Commands fail fast when Redis is down: maxRetriesPerRequest 1 (a queued
 * command is failed after one reconnect attempt), a connect timeout and a
 * command timeout, so the relay answers 451 instead of hanging the SMTP
 * session. The client keeps reconnecting in the background.
 */
import { Redis, type RedisOptions } from "ioredis";
import { StoreError } from "../types.js";
import { UnexpectedReplyError } from "./scripts.js";

export const CONNECT_TIMEOUT_MS = 2_000;
export const COMMAND_TIMEOUT_MS = 5_000;

export function connectionOptions(): RedisOptions {
  return {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Back off up to 1 s between reconnects; never give up (a fleet outlives Redis restarts).
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    enableAutoPipelining: false,
  };
}

export function createClient(url: string): Redis {
  return new Redis(url, connectionOptions());
}

/**
 * Maps anything thrown by the client to a StoreError: a StoreError passes
 * through, an unexpected reply shape means a corrupt stored value, and
 * everything else (connection refused, timeouts, MaxRetriesPerRequestError,
 * server errors) means the backing service cannot serve the call.
 */
export function toStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  if (error instanceof UnexpectedReplyError) {
    return new StoreError("invalid", `${operation}: unexpected reply from Redis: ${error.message}`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError("unavailable", `${operation}: Redis unavailable: ${message}`, { cause: error });
}

/** Runs one store operation, mapping failures to StoreError. */
export async function guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toStoreError(error, operation);
  }
}

/** Quits politely, but never waits on a Redis that is gone. */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === "end") return;
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
  try {
    await Promise.race([client.quit().then(() => undefined), timeout]);
  } catch {
    // Already disconnected: nothing to flush.
  }
  client.disconnect();
}

/** The replies of a MULTI, failing on the first command error. */
export function execResults(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error("transaction aborted");
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
