/**
 * An intake with its real parts for tests: smtp-server on a free loopback
 * port, a spool in a temp dir, and a Store (embedded by default, or one the
 * test passes, e.g. Redis). Accounts are upserted from AccountInput objects.
 */
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { hashCredentials } from "../../relay/accounts/credentials.js";
import { type AccountInput, accountInputSchema, accountSchema } from "../../relay/accounts/schema.js";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { AccountDirectory } from "../../relay/intake/accounts.js";
import { type Intake, startIntake } from "../../relay/intake/server.js";
import { silentLogger } from "../../relay/log/logger.js";
import { createMetrics, type Metrics } from "../../relay/metrics/index.js";
import { createIdGenerator } from "../../relay/spool/id.js";
import { Spool, type SpoolEntry } from "../../relay/spool/spool.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import type { Store } from "../../relay/store/types.js";
import { tempDir } from "./temp-dir.js";

export interface TestIntake {
  host: string;
  port: number;
  intake: Intake;
  store: Store;
  spool: Spool;
  metrics: Metrics;
  accepted: SpoolEntry[];
  /** Sizes of the spool's group commits, in order. */
  batches: number[];
  dir: string;
  putAccount(input: AccountInput): Promise<void>;
}

export async function putAccount(store: Store, input: AccountInput): Promise<void> {
  const parsed = accountInputSchema.parse(input);
  const now = Date.now();
  await store.putAccount(
    accountSchema.parse({
      ...parsed,
      credentials: await hashCredentials(parsed.credentials),
      createdAt: now,
      updatedAt: now,
    }),
  );
}

export async function startTestIntake(
  options: {
    accounts?: AccountInput[];
    intake?: Record<string, unknown>;
    maxMessageBytes?: number;
    store?: Store;
    spoolDir?: string;
    authFailureDelayMs?: number;
    listen?: string[];
    tls?: { cert: string; key: string };
  } = {},
): Promise<TestIntake> {
  const dir = await tempDir("relayfleet-intake-");
  const store = options.store ?? (await openLocalStore({ dir: join(dir, "store") }));
  const config = relayConfigSchema.parse({
    hostname: "relay.test",
    listen: { smtp: options.listen ?? ["127.0.0.1:0"] },
    ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
    intake: { minFreeBytes: 0, ...options.intake },
  });
  for (const account of options.accounts ?? []) await putAccount(store, account);
  const metrics = createMetrics({ defaultMetrics: false });
  const batches: number[] = [];
  const { spool } = await Spool.open({
    dir: options.spoolDir ?? join(dir, "spool"),
    logger: silentLogger(),
    onBatch: (size) => batches.push(size),
  });
  const accounts = new AccountDirectory(store).start();
  const accepted: SpoolEntry[] = [];
  const intake = await startIntake({
    listen: config.listen.smtp,
    ...(options.tls ? { tls: options.tls } : {}),
    config,
    store,
    spool,
    accounts,
    logger: silentLogger(),
    metrics,
    newId: createIdGenerator(),
    onAccepted: (entry) => accepted.push(entry),
    authFailureDelayMs: options.authFailureDelayMs ?? 0,
  });
  onTestFinished(async () => {
    await intake.close();
    accounts.stop();
    if (!options.store) await store.close();
  });
  const address = intake.addresses[0] as { host: string; port: number };
  return {
    ...address,
    intake,
    store,
    spool,
    metrics,
    accepted,
    batches,
    dir,
    putAccount: (input) => putAccount(store, input),
  };
}
