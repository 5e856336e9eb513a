/** The door to the Store: picks the adapter from config (Redis when configured, else embedded). */
import { join } from "node:path";
import type { RelayConfig } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import { openLocalStore } from "./local/index.js";
import { openRedisStore } from "./redis/index.js";
import type { Store } from "./types.js";

export async function openStore(
  config: Pick<RelayConfig, "store" | "dataDir">,
  logger: Logger,
): Promise<Store> {
  const log = logger.child({ component: "store" });
  if (config.store.redis)
    return openRedisStore({ url: config.store.redis, cluster: config.store.cluster, logger: log });
  return openLocalStore({ dir: join(config.dataDir, "store"), logger: log });
}
