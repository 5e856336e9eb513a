/** What every part of the adapter shares: the command connection, key layout, scripts, and the change publisher. */

import type { StoreChange } from "../types.js";
import type { RedisClient } from "./connection.js";
import type { Keys } from "./keys.js";
import type { Scripts } from "./scripts.js";

export interface RedisContext {
  client: RedisClient;
  keys: Keys;
  scripts: Scripts;
  /** Publishes a change to every Store on the same Redis and prefix. */
  notify(change: StoreChange): Promise<void>;
}

/** Retention safety net: every message key expires this long after acceptance, purged or not. */
export const MESSAGE_TTL_MS = 400 * 86_400_000;
/** Aggregates (group hourly stats, daily reports) live as long as the messages they count. */
export const AGGREGATE_TTL_MS = MESSAGE_TTL_MS;
