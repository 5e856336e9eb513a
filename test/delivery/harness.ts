/**
 * A scheduler with its real parts for tests: a spool in a temp dir, a Store
 * (embedded, or the one passed in, e.g. Redis), accounts and route tables,
 * fast retries. Messages go straight into the spool, as the intake would
 * leave them (file fsynced, message logged), without an SMTP round trip.
 */
import { join } from "node:path";
import { onTestFinished } from "vitest";
import type { AccountInput } from "../../relay/accounts/schema.js";
import { silentLogger } from "../../relay/log/logger.js";
import { createMetrics, type Metrics } from "../../relay/metrics/index.js";
import { type RunningScheduler, type SchedulerOptions, startScheduler } from "../../relay/pipeline.js";
import { type RouteTableInput, routeTableSchema } from "../../relay/routes/schema.js";
import type { SpooledEnvelope } from "../../relay/spool/envelope.js";
import { createIdGenerator } from "../../relay/spool/id.js";
import { Spool, type SpoolEntry } from "../../relay/spool/spool.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import type { Store } from "../../relay/store/types.js";
import { putAccount } from "../support/intake.js";
import { tempDir } from "../support/temp-dir.js";

export interface Rig {
  dir: string;
  store: Store;
  spool: Spool;
  metrics: Metrics;
  scheduler: RunningScheduler;
  /** Spools a message, logs it in the Store and hands it to the scheduler. */
  send(message: TestMessage): Promise<SpoolEntry>;
}

export interface TestMessage {
  account?: string;
  from?: string;
  to: string[];
  subject?: string;
  /** Extra header lines (CRLF-terminated). */
  headers?: string;
  body?: string;
  refused?: SpooledEnvelope["refused"];
  receivedAt?: number;
}

export interface RigOptions
  extends Partial<Omit<SchedulerOptions, "spool" | "store" | "metrics" | "logger">> {
  store?: Store;
  routes?: Record<string, RouteTableInput>;
  accounts?: AccountInput[];
  /** Reuse a spool directory (restart tests). */
  spoolDir?: string;
  storeDir?: string;
}

const newId = createIdGenerator();

export function messageBytes(message: TestMessage, id: string): Buffer {
  const from = message.from ?? "app@acme.test";
  return Buffer.from(
    `From: <${from || "mailer-daemon@relay.test"}>\r\nTo: <${message.to[0]}>\r\nSubject: ${message.subject ?? `message ${id}`}\r\nMessage-ID: <${id}@acme.test>\r\n${message.headers ?? ""}\r\n${message.body ?? "Hello.\r\n"}`,
  );
}

export async function spoolMessage(spool: Spool, store: Store, message: TestMessage): Promise<SpoolEntry> {
  const id = newId();
  const envelope: SpooledEnvelope = {
    v: 1,
    id,
    account: message.account ?? "acme",
    from: message.from ?? "app@acme.test",
    to: message.to,
    clientIp: "192.0.2.10",
    heloName: "client.test",
    receivedAt: message.receivedAt ?? Date.now(),
    listener: "127.0.0.1:2525",
    transmissionType: "ESMTPA",
    refused: message.refused ?? [],
  };
  const writer = await spool.create(envelope);
  const raw = messageBytes(message, id);
  writer.stream.write(raw);
  const entry = await writer.commit();
  await store.recordMessage({
    id,
    account: envelope.account,
    from: envelope.from,
    recipients: envelope.to,
    size: raw.length,
    acceptedAt: envelope.receivedAt,
  });
  for (const refused of envelope.refused)
    await store.markSuppressed(id, refused.address, refused.reason, envelope.receivedAt);
  return entry;
}

export function peerRoute(
  port: number,
  senders: { name: string; localAddress?: string; weight?: number }[],
  extra: Partial<RouteTableInput> = {},
): RouteTableInput {
  return {
    policy: "failover",
    senders: senders.map((s) => ({
      name: s.name,
      host: "127.0.0.1",
      port,
      tls: "none" as const,
      ...(s.localAddress ? { localAddress: s.localAddress } : {}),
      ...(s.weight !== undefined ? { weight: s.weight } : {}),
    })),
    ...extra,
  };
}

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const dir = await tempDir("relayfleet-delivery-");
  const store = options.store ?? (await openLocalStore({ dir: options.storeDir ?? join(dir, "store") }));
  for (const account of options.accounts ?? [{ name: "acme", allowedFrom: ["*"] }])
    await putAccount(store, account);
  for (const [name, table] of Object.entries(options.routes ?? {}))
    await store.putRouteTable(name, routeTableSchema.parse(table));
  const metrics = createMetrics({ defaultMetrics: false });
  const { spool, recovered } = await Spool.open({
    dir: options.spoolDir ?? join(dir, "spool"),
    logger: silentLogger(),
  });
  const { store: _s, routes: _r, accounts: _a, spoolDir: _d, storeDir: _sd, ...schedulerOptions } = options;
  const scheduler = await startScheduler({
    hostname: "relay.test",
    retry: { baseMs: 50, maxMs: 200, jitter: 0 },
    ...schedulerOptions,
    spool,
    store,
    metrics,
    logger: silentLogger(),
    recovered,
  });
  onTestFinished(async () => {
    await scheduler.stop();
    if (!options.store) await store.close();
  });
  return {
    dir,
    store,
    spool,
    metrics,
    scheduler,
    async send(message) {
      const entry = await spoolMessage(spool, store, message);
      scheduler.enqueue(entry);
      return entry;
    },
  };
}

export function metricValue(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(line));
  return found ? Number(found.slice(line.length).trim()) : 0;
}
