import { randomUUID } from "node:crypto";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { StoreError } from "../../relay/store/types.js";
import { startRedisServer } from "../support/redis-server.js";
import { describeStoreContract } from "./contract.js";
import { account } from "./fixtures.js";

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

describe("redis store when Redis goes away", () => {
  it("fails with StoreError 'unavailable' instead of hanging", async () => {
    // A private server: stopping the shared one would break every other test.
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const store = await openRedisStore({ url: redis.url, prefix: freshPrefix() });
    onTestFinished(() => store.close());
    await store.putAccount(account("acme"));
    await redis.stop();

    for (const call of [() => store.ping(), () => store.getAccount("acme")]) {
      const failure = await call().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StoreError);
      expect((failure as StoreError).code).toBe("unavailable");
    }
  }, 20_000);
});
