/**
 * The Redis connections and the one place where client failures become
 * StoreError codes.
 *
 * Commands fail fast when Redis is down: maxRetriesPerRequest 1 (a queued
 * command is failed after one reconnect attempt), a connect timeout and a
 * command timeout, so the relay answers 451 instead of hanging the SMTP
 * session. The client keeps reconnecting in the background.
 */
import { Cluster, Redis, type RedisOptions } from "ioredis";
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

/** A single Redis (or a Sentinel-less primary) or a Redis Cluster: the adapter uses what both have. */
export type RedisClient = Redis | Cluster;

/**
 * With `cluster`, the URL names one node of a Redis Cluster (any will do: the client learns the
 * others and follows MOVED/ASK redirections); its user, password and TLS (rediss://) apply to
 * every node. Every atomic change already stays in one slot (keys are hash-tagged).
 */
export function createClient(url: string, options: { cluster?: boolean } = {}): RedisClient {
  if (!options.cluster) return new Redis(url, connectionOptions());
  const parsed = new URL(url);
  const { retryStrategy, ...nodeOptions } = connectionOptions();
  return new Cluster([{ host: parsed.hostname, port: Number(parsed.port || 6379) }], {
    lazyConnect: true,
    clusterRetryStrategy: retryStrategy,
    redisOptions: {
      ...nodeOptions,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
    },
  });
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
export async function closeClient(client: RedisClient): Promise<void> {
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
