/** A tracking server on loopback over a real local store, with one logged message. */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { inject, onTestFinished } from "vitest";
import { accountSchema } from "../../relay/accounts/schema.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import type { Store } from "../../relay/store/types.js";
import { startTrackingServer, type TrackingDeps } from "../../relay/tracking/server.js";
import { makeKeyring, signToken, type TokenClaims, type TokenKeyring } from "../../relay/tracking/token.js";
import type { NewMessage } from "../../relay/vocabulary.js";
import { tempDir } from "../support/temp-dir.js";

type UnsignedClaims = TokenClaims extends infer C
  ? C extends TokenClaims
    ? Omit<C, "messageId"> & { messageId?: string }
    : never
  : never;

export interface TrackingFixture {
  base: string;
  store: Store;
  keys: TokenKeyring;
  metrics: ReturnType<typeof createMetrics>;
  message: NewMessage;
  /** Signs for the fixture's message unless the claims name another. */
  sign(claims: UnsignedClaims): string;
}

export function newKey(id = "k1") {
  return { id, secret: randomBytes(32) };
}

export type StoreKind = "local" | "redis";

/** A real store of either kind; Redis keys get a prefix of their own. */
export async function openTestStore(kind: StoreKind): Promise<Store> {
  if (kind === "local") return openLocalStore({ dir: await tempDir() });
  return openRedisStore({ url: inject("redisUrl"), prefix: `t6:${randomBytes(6).toString("hex")}:` });
}

export async function startTrackingFixture(
  options: {
    store?: StoreKind;
    message?: Partial<NewMessage>;
    deps?: Partial<TrackingDeps>;
    keys?: TokenKeyring;
  } = {},
): Promise<TrackingFixture> {
  const store = await openTestStore(options.store ?? "local");
  const now = Date.now();
  await store.putAccount(accountSchema.parse({ name: "acme", createdAt: now, updatedAt: now }));
  const message: NewMessage = {
    id: `M${randomBytes(6).toString("hex")}`,
    account: "acme",
    from: "news@acme.example",
    recipients: ["reader@example.org", "other@example.net"],
    subject: "Spring sale",
    size: 1234,
    acceptedAt: now,
    ...options.message,
  };
  await store.recordMessage(message);
  const keys = options.keys ?? makeKeyring(newKey());
  const metrics = createMetrics({ defaultMetrics: false });
  const server = await startTrackingServer({ store, keys, metrics, ...options.deps }, "127.0.0.1", 0);
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close().catch(() => undefined);
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    store,
    keys,
    metrics,
    message,
    sign: (claims) => signToken(keys, { messageId: message.id, ...claims } as TokenClaims),
  };
}
