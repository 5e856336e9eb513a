import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { describeStoreContract } from "./contract.js";

/** Every test gets its own key prefix on the shared test redis-server. */
function freshPrefix(): string {
  return `t${randomUUID()}:`;
}

function openAt(prefix: string) {
  return openRedisStore({ url: inject("redisUrl"), prefix });
}

describeStoreContract("redis", () => openAt(freshPrefix()), {
  backingState: async () => {
    const prefix = freshPrefix();
    return () => openAt(prefix);
  },
  concurrentPeers: true,
});
