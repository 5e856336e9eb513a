/**
 * One relay process: its life around the pipeline (relay/pipeline.ts wires the stages): the
 * Store and the config written to it, the API, tracking and metrics listeners, the message
 * log's purge, hand-off and shutdown.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { hashCredentials } from "./accounts/credentials.js";
import { accountSchema } from "./accounts/schema.js";
import type { LifecycleDeps } from "./api/endpoints-lifecycle.js";
import { createApiHandler } from "./api/server.js";
import {
  apiTokenFile,
  demoCredentials,
  demoPasswordFile,
  ensurePrivateDir,
  ensureSecretFile,
} from "./config/bootstrap.js";
import { parseListenAddress, type RelayConfig } from "./config/schema.js";
import type { Intake } from "./intake/server.js";
import { readTlsMaterial } from "./intake/tls.js";
import type { Logger } from "./log/logger.js";
import { createMetrics, type Metrics, startMetricsServer } from "./metrics/index.js";
import { type RunningScheduler, startPipeline } from "./pipeline.js";
import { routeTableSchema } from "./routes/schema.js";
import { handOffSpool, handoffTargets, receiveHandoff } from "./spool/handoff.js";
import type { Spool } from "./spool/spool.js";
import { openStore } from "./store/index.js";
import type { Store } from "./store/types.js";
import { createTrackingServer } from "./tracking/server.js";
import { makeKeyring } from "./tracking/token.js";

/**
 * Waits, at shutdown, while the scheduler still has mail it can send now: until nothing is queued
 * or being delivered (what is left only waits for a retry time, which may be hours away: better
 * handed over at once), or `timeoutMs` has passed.
 */
async function settleQueue(scheduler: RunningScheduler, timeoutMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { queued, active } = scheduler.counts();
    if (queued === 0 && active === 0) return;
    if (Date.now() >= deadline) {
      logger.warn(scheduler.counts(), "mail still queued when the shutdown's queueSeconds ran out");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface Relay {
  intake: Intake;
  store: Store;
  spool: Spool;
  metrics: Metrics;
  apiToken: string;
  /** Where the relay keeps the API token it generated (absent when config gives one). */
  apiTokenFile?: string;
  /** Delivers what the intake accepts (and what was in the spool at start). */
  scheduler: RunningScheduler;
  apiAddress: { host: string; port: number };
  /** Pixel, click and unsubscribe endpoints. */
  trackingAddress: { host: string; port: number };
  metricsAddress: { host: string; port: number };
  /** Set when the relay made a demo account on a bare machine. */
  demo?: { username: string; password: string };
  /** Where the demo account's password is kept (with `demo`). */
  demoPasswordFile?: string;
  stop(): Promise<void>;
}

function listenOn(server: Server, address: string): Promise<{ host: string; port: number }> {
  const parsed = parseListenAddress(address);
  if (!parsed) throw new Error(`bad listen address ${address}`);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(parsed.port, parsed.host, () => {
      const bound = server.address();
      resolve({ host: parsed.host, port: typeof bound === "object" && bound ? bound.port : parsed.port });
    });
  });
}

/** Upserts the accounts and route tables written in config (config is the source of truth for those it names). */
async function applyConfig(store: Store, config: RelayConfig, now: number): Promise<void> {
  for (const input of config.accounts) {
    const existing = await store.getAccount(input.name);
    await store.putAccount(
      accountSchema.parse({
        ...input,
        credentials: await hashCredentials(input.credentials),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      }),
    );
  }
  for (const [name, table] of Object.entries(config.routes)) await store.putRouteTable(name, table);
  // A standalone relay with no route table would only queue mail: it delivers direct to MX.
  // (In a fleet, the operator publishes the tables from SenderRoutes.)
  const standalone = !config.store.redis;
  if (standalone && Object.keys(config.routes).length === 0 && !(await store.getRouteTable("default"))) {
    await store.putRouteTable("default", routeTableSchema.parse({ senders: [{ name: "direct", mx: true }] }));
  }
}

async function ensureDemoAccount(store: Store, config: RelayConfig, now: number) {
  if (config.accounts.length > 0 || config.store.redis) return undefined;
  const demo = await demoCredentials(config.dataDir);
  if ((await store.listAccounts()).length > 0 && !(await store.getAccount("demo"))) return undefined;
  await store.putAccount(
    accountSchema.parse({
      name: "demo",
      credentials: await hashCredentials([demo]),
      allowedFrom: ["*"],
      createdAt: (await store.getAccount("demo"))?.createdAt ?? now,
      updatedAt: now,
    }),
  );
  return demo;
}

export async function startRelay(config: RelayConfig, logger: Logger): Promise<Relay> {
  const now = Date.now();
  // A certificate that cannot be used stops the start here, before anything is opened.
  const tlsMaterial = config.tls ? readTlsMaterial(config.tls) : undefined;
  await ensurePrivateDir(config.dataDir);
  const metrics = createMetrics();
  const backingStore = await openStore(config, logger);
  // The tracking key is the secret file's text, hashed to the 32 bytes an HMAC key needs; the
  // tracking server must derive it the same way.
  const trackingSecret =
    config.trackingSecret ??
    (await ensureSecretFile(config.secretFile ?? join(config.dataDir, "tracking-secret")));
  const trackingKeys = makeKeyring({
    id: "k1",
    secret: createHash("sha256").update(trackingSecret).digest(),
  });
  let demo: Awaited<ReturnType<typeof ensureDemoAccount>>;
  const generatedTokenFile = config.apiToken === undefined ? apiTokenFile(config.dataDir) : undefined;
  let apiToken = "";
  const { store, webhooks, spool, scheduler, feedback, accounts, intake } = await startPipeline({
    config,
    logger,
    metrics,
    backingStore,
    tlsMaterial,
    trackingKeys,
    prepare: async (tapped) => {
      await applyConfig(tapped, config, now);
      demo = await ensureDemoAccount(tapped, config, now);
      apiToken = config.apiToken ?? (await ensureSecretFile(apiTokenFile(config.dataDir)));
    },
  });

  // Message log retention: purge what is older than retentionDays, hourly.
  const purge = setInterval(() => {
    store.purgeMessages(Date.now() - config.retentionDays * 86_400_000).catch((error: unknown) => {
      logger.warn({ err: error }, "message log purge failed");
    });
  }, 3_600_000);
  purge.unref();

  // Hand-off (relay/spool/handoff.ts): a draining relay out of time gives its queue to others.
  let handingOff: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const lifecycle: LifecycleDeps = {
    isDraining: () => intake.draining,
    drain: () => intake.drain(),
    storeReady: () => store.ping(),
    sharedStore: store.kind === "redis",
    handOff: (targets: string[]) => {
      handingOff ??= (async () => {
        await scheduler.stop();
        const report = await handOffSpool({ spool, targets, token: apiToken, logger });
        // The scheduler no longer updates the gauge: what is left here is what it shows.
        metrics.queueMessages.reset();
        metrics.queueMessages.set({ state: "queued" }, report.failed);
      })().catch((error: unknown) => logger.error({ err: error }, "hand-off failed"));
    },
    takeHandoff: (request: IncomingMessage) =>
      receiveHandoff(request, {
        spool,
        enqueue: (entry, options) => scheduler.enqueue(entry, options),
        maxMessageBytes: config.maxMessageBytes,
        logger,
      }),
  };
  // API and tracking listeners: relay/api/server.ts, relay/tracking/server.ts.
  const api = createServer(
    createApiHandler({
      store,
      apiToken,
      lifecycle,
      registry: metrics.registry,
      logger: logger.child({ component: "api" }),
      allowPrivateWebhookTargets: config.webhooks.allowPrivateTargets,
      quarantine: {
        list: () => scheduler.listQuarantine(),
        release: (id) => scheduler.releaseQuarantined(id),
      },
    }),
  );
  const tracking = createTrackingServer({
    store,
    keys: trackingKeys,
    metrics,
    logger: logger.child({ component: "tracking" }),
    trustForwardedFrom: config.tracking.trustForwardedFrom,
    recordingLimits: {
      perIpPerMinute: config.tracking.maxEventsPerIpPerMinute,
      perTokenPerMinute: config.tracking.maxEventsPerTokenPerMinute,
    },
  });
  const trackingAddress = await listenOn(tracking, config.listen.tracking);
  const apiAddress = await listenOn(api, config.listen.api);
  const metricsParsed = parseListenAddress(config.listen.metrics);
  if (!metricsParsed) throw new Error(`bad listen address ${config.listen.metrics}`);
  const metricsServer = await startMetricsServer(metrics, metricsParsed.host, metricsParsed.port);
  const metricsBound = metricsServer.address();
  const metricsAddress = {
    host: metricsParsed.host,
    port: typeof metricsBound === "object" && metricsBound ? metricsBound.port : metricsParsed.port,
  };

  return {
    intake,
    store,
    spool,
    metrics,
    apiToken,
    ...(generatedTokenFile ? { apiTokenFile: generatedTokenFile } : {}),
    scheduler,
    apiAddress,
    trackingAddress,
    metricsAddress,
    ...(demo ? { demo, demoPasswordFile: demoPasswordFile(config.dataDir) } : {}),
    // Idempotent: SIGTERM, a test's clean-up and an error path may all ask.
    stop() {
      stopping ??= (async () => {
        clearInterval(purge);
        feedback?.close();
        await intake.drain();
        await intake.close();
        const { queueSeconds, handoffDns, handoffPort } = config.shutdown;
        if (queueSeconds > 0 && !handingOff) await settleQueue(scheduler, queueSeconds * 1000, logger);
        await scheduler.stop();
        if (!handingOff && handoffDns && store.kind === "redis" && (await spool.list()).length > 0) {
          const targets = await handoffTargets(handoffDns, handoffPort, apiAddress.port);
          if (targets.length > 0)
            handingOff = handOffSpool({ spool, targets, token: apiToken, logger }).then(
              (report) => logger.info(report, "handed the queue over before stopping"),
              (error: unknown) => logger.error({ err: error }, "hand-off at shutdown failed"),
            );
          else logger.warn({ handoffDns }, "no other relay to hand the queue to; it stays in the spool");
        }
        await handingOff;
        accounts.stop();
        await new Promise((resolve) => api.close(resolve));
        tracking.closeIdleConnections();
        await new Promise((resolve) => tracking.close(resolve));
        await new Promise((resolve) => metricsServer.close(resolve));
        await webhooks.close();
        await store.close();
      })();
      return stopping;
    },
  };
}
