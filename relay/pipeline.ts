/**
 * The one place the relay's stages are wired. `startPipeline` builds them from the config,
 * top to bottom:
 *
 *   intake (SMTP) → spool (durable) → scheduler → copy → delivery
 *   beside them: feedback (bounces in), notify (DSNs), webhooks (every event of the Store)
 *
 * and hands back the pieces; relay/main.ts keeps the process's life (listeners, shutdown,
 * hand-off, purge). `startScheduler` wires the queue alone (routing directory, outbound pools,
 * MX look-ups, copies, delivery, notices and the fair scheduler) and resumes every message
 * found in the spool; tests start it on its own.
 */
import { mkdir, rm } from "node:fs/promises";
import { availableParallelism, hostname as osHostname } from "node:os";
import { join } from "node:path";
import type { RelayConfig } from "./config/schema.js";
import {
  CopyMaker,
  CopyPool,
  DEFAULT_COPY_DEADLINE,
  type DeliveryMode,
  type TransformFn,
} from "./copy/index.js";
import { CopyDeliverer } from "./delivery/deliverer.js";
import { RoutingDirectory } from "./delivery/directory.js";
import { MxCache, type MxResolver, systemMxResolver } from "./delivery/mx.js";
import { type Timeouts, TransportPool } from "./delivery/transport.js";
import { type FeedbackReceiver, feedbackSettings, returnPathFor, startFeedback } from "./feedback/index.js";
import { AccountDirectory } from "./intake/accounts.js";
import { type Intake, startIntake } from "./intake/server.js";
import type { TlsMaterial } from "./intake/tls.js";
import type { Logger } from "./log/logger.js";
import type { Metrics } from "./metrics/index.js";
import { Notifier } from "./notify/index.js";
import type { RetryPolicy } from "./scheduler/retry.js";
import { Scheduler, type SchedulerCounts } from "./scheduler/scheduler.js";
import { type SlotLimits, slotLimitsOf } from "./scheduler/slots.js";
import { createIdGenerator } from "./spool/id.js";
import { CRASHES_BEFORE_QUARANTINE, InFlightJournal } from "./spool/in-flight.js";
import { scanProgress } from "./spool/progress.js";
import { Quarantine, type QuarantineRecord } from "./spool/quarantine.js";
import type { SpoolEntry } from "./spool/spool.js";
import { Spool } from "./spool/spool.js";
import type { Store } from "./store/types.js";
import type { TokenKeyring } from "./tracking/token.js";
import { transformForRecipient } from "./transform/index.js";
import { WebhookDispatcher, withEventTap } from "./webhooks/index.js";

export type { DeliveryMode, TransformFn } from "./copy/index.js";
export type { MxRecord, MxResolver } from "./delivery/mx.js";
export type { RetryPolicy } from "./scheduler/retry.js";
export type { SlotLimits } from "./scheduler/slots.js";

export interface SchedulerOptions {
  spool: Spool;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  /** EHLO name, Received: "by", and the DSN reporting MTA. */
  hostname: string;
  mode?: DeliveryMode;
  /** The per-recipient transform (relay/transform); absent: copies leave as received. */
  transform?: TransformFn;
  tracking?: { baseUrl: string; keys: TokenKeyring };
  /** Messages found in the spool at start-up. */
  recovered?: SpoolEntry[];
  resolver?: MxResolver;
  limits?: Partial<SlotLimits>;
  retry?: Partial<RetryPolicy>;
  timeouts?: Partial<Timeouts>;
  /**
   * Worker threads making the copies (relay/copy/pool.ts); at least 1. Used when
   * `transform` is relay/transform's transformForRecipient, which is what the workers run; any
   * other transform (tests) runs on this thread.
   */
  copyWorkers?: number;
  /** Copies' deadlines and spare workers (config `copies`). */
  copies?: {
    timeoutSeconds?: number;
    secondsPerMiB?: number;
    spareWorkers?: number;
    spareAfterSeconds?: number;
  };
  /** Names this relay in blocked reports (the pod name). */
  reportedBy?: string;
  /** The route table accounts with route "default" use (config `defaultRoute`). */
  defaultRoute?: string;
  /** Each copy's envelope sender (VERP, relay/feedback `returnPathFor`). */
  returnPath?: (messageId: string, envelopeFrom: string, recipient: string) => string;
  newId?: () => string;
  now?: () => number;
  random?: () => number;
}

export interface RunningScheduler {
  /**
   * Hands over a message that is durable in the spool; `withProgress`: it has a progress
   * file to resume from (a message handed over by another relay, relay/spool/handoff.ts).
   */
  enqueue(entry: SpoolEntry, options?: { withProgress?: boolean }): void;
  /** Switches between full processing and passthrough for every copy made from now on. */
  setMode(mode: DeliveryMode): void;
  readonly mode: DeliveryMode;
  counts(): SchedulerCounts;
  idle(timeoutMs?: number): Promise<void>;
  /** Quarantined messages, newest first (relay/spool/quarantine.ts). */
  listQuarantine(): Promise<QuarantineRecord[]>;
  /** Puts a quarantined message back in the queue; false when there is no such message. */
  releaseQuarantined(id: string): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startScheduler(options: SchedulerOptions): Promise<RunningScheduler> {
  const logger = options.logger.child({ component: "scheduler" });
  const now = options.now ?? Date.now;
  const withProgress = await scanProgress(options.spool.queueDir);
  const directory = await new RoutingDirectory(options.store, logger, {
    now,
    ...(options.reportedBy ? { reportedBy: options.reportedBy } : {}),
    ...(options.defaultRoute ? { defaultRoute: options.defaultRoute } : {}),
  }).start();
  const transports = new TransportPool({
    hostname: options.hostname,
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    now,
  });
  // A message that was being copied when the process died twice in a row is not resumed
  // (relay/spool/in-flight.ts); copies of big messages left by a crash are of no use.
  const { journal, verdict } = InFlightJournal.open(join(options.spool.dir, "in-flight.log"), (error) =>
    logger.error({ err: error }, "could not write the in-flight journal"),
  );
  const copiesDir = join(options.spool.dir, "copies");
  await rm(copiesDir, { recursive: true, force: true });
  await mkdir(copiesDir, { recursive: true });
  const quarantine = new Quarantine(options.spool.dir, options.spool.queueDir);
  // Workers run relay/transform's own transform: a different one (tests) stays on this thread.
  const copySettings = options.copies ?? {};
  const pool =
    options.transform === transformForRecipient
      ? new CopyPool({
          size: Math.max(1, options.copyWorkers ?? 1),
          ...(copySettings.spareWorkers !== undefined ? { spares: copySettings.spareWorkers } : {}),
          ...(copySettings.spareAfterSeconds !== undefined
            ? { spareAfterMs: copySettings.spareAfterSeconds * 1000 }
            : {}),
          deadline: {
            seconds: copySettings.timeoutSeconds ?? DEFAULT_COPY_DEADLINE.seconds,
            secondsPerMiB: copySettings.secondsPerMiB ?? DEFAULT_COPY_DEADLINE.secondsPerMiB,
          },
          copiesDir,
          logger,
          onCopyStart: (id) => journal.started(id),
          onCopyEnd: (id) => journal.ended(id),
        })
      : undefined;
  const copies = new CopyMaker({
    spool: options.spool,
    ...(options.transform ? { transform: options.transform } : {}),
    ...(options.tracking ? { tracking: options.tracking } : {}),
    metrics: options.metrics,
    now,
    ...(pool ? { pool } : {}),
    logger,
  });
  const deliverer = new CopyDeliverer({
    copies,
    transports,
    mx: new MxCache(options.resolver ?? systemMxResolver, 60_000, now),
    hostname: options.hostname,
    now,
    ...(options.returnPath ? { returnPath: options.returnPath } : {}),
  });
  let scheduler: Scheduler | undefined;
  const notifier = new Notifier({
    spool: options.spool,
    store: options.store,
    hostname: options.hostname,
    newId: options.newId ?? createIdGenerator(now),
    logger,
    onSpooled: (entry) => scheduler?.enqueue(entry),
    now,
  });
  const running = new Scheduler({
    spool: options.spool,
    store: options.store,
    directory,
    deliverer,
    notifier,
    logger,
    metrics: options.metrics,
    mode: options.mode ?? "full",
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    now,
    ...(options.random ? { random: options.random } : {}),
    withProgress,
    quarantine,
  });
  scheduler = running;
  const crashLooped = new Set(verdict.quarantine);
  for (const entry of options.recovered ?? []) {
    if (!crashLooped.has(entry.id)) {
      running.enqueue(entry);
      continue;
    }
    logger.warn({ id: entry.id }, "message in flight during crashes in a row: quarantined, not resumed");
    running.enqueue(entry, {
      quarantine: {
        reason: "crash_loop",
        detail: `quarantined: in flight during ${CRASHES_BEFORE_QUARANTINE} crashes in a row`,
      },
    });
  }
  return {
    enqueue: (entry, enqueueOptions) => {
      if (enqueueOptions?.withProgress) withProgress.add(entry.id);
      running.enqueue(entry);
    },
    setMode: (mode) => {
      running.mode = mode;
    },
    get mode() {
      return running.mode;
    },
    counts: () => running.counts(),
    idle: (timeoutMs) => running.idle(timeoutMs),
    listQuarantine: () => quarantine.list(),
    async releaseQuarantined(id) {
      const entry = await quarantine.release(id);
      if (!entry) return false;
      withProgress.add(entry.id);
      running.enqueue(entry);
      return true;
    },
    async stop() {
      await running.stop();
      directory.stop();
      transports.close();
      await pool?.close();
      journal.close();
    },
  };
}

export interface PipelineOptions {
  config: RelayConfig;
  logger: Logger;
  metrics: Metrics;
  /** The Store as opened; every part gets it with the webhooks' event tap (relay/webhooks/tap.ts). */
  backingStore: Store;
  tlsMaterial: TlsMaterial | undefined;
  trackingKeys: TokenKeyring;
  /** Runs with the tapped Store before the spool opens or any mail moves (config's accounts and routes). */
  prepare: (store: Store) => Promise<void>;
}

/** The stages of one relay, wired: what main.ts listens with and stops. */
export interface Pipeline {
  store: Store;
  webhooks: WebhookDispatcher;
  spool: Spool;
  scheduler: RunningScheduler;
  feedback: FeedbackReceiver | undefined;
  accounts: AccountDirectory;
  intake: Intake;
}

/**
 * Builds the relay's pipeline from its config, top to bottom:
 *
 *   intake (SMTP) → spool (durable) → scheduler → copy → delivery
 *   beside them: feedback (bounces in), notify (DSNs), webhooks (every event of the Store).
 */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, logger, metrics, backingStore, trackingKeys } = options;
  // Webhooks: every event recorded through `store`, by any part, is also put in the Store's
  // webhook outbox for the account's webhooks (relay/webhooks/tap.ts); nothing else here knows.
  const webhooks = new WebhookDispatcher({
    store: backingStore,
    settings: {
      allowPrivateTargets: config.webhooks.allowPrivateTargets,
      maxOutstandingPerAccount: config.webhooks.maxOutstandingPerAccount,
      leaseMs: config.webhooks.leaseSeconds * 1000,
    },
    registry: metrics.registry,
    logger,
  });
  const store = withEventTap(backingStore, webhooks.onEvent, logger);
  await options.prepare(store);

  const { spool, recovered } = await Spool.open({
    dir: join(config.dataDir, "spool"),
    logger: logger.child({ component: "spool" }),
    onBatch: (size) => metrics.spoolFsyncBatch.observe(size),
  });
  if (recovered.length > 0)
    logger.info({ messages: recovered.length }, "resuming messages found in the spool");
  // Bounces and complaints: VERP return paths out, the bounce domain's mail in.
  const verp = feedbackSettings(config, trackingKeys);
  const scheduler = await startScheduler({
    spool,
    store,
    logger,
    metrics,
    hostname: config.hostname,
    mode: config.mode,
    defaultRoute: config.defaultRoute,
    transform: transformForRecipient,
    tracking: {
      baseUrl: config.trackingBaseUrl,
      keys: trackingKeys,
    },
    recovered,
    reportedBy: process.env.POD_NAME ?? osHostname(),
    copyWorkers: copyWorkerCount(),
    copies: config.copies,
    limits: slotLimitsOf(config.scheduler),
    ...(verp ? { returnPath: returnPathFor(verp) } : {}),
  });
  const feedback = verp
    ? await startFeedback({
        settings: verp,
        store,
        spool,
        hostname: config.hostname,
        newId: createIdGenerator(),
        onSpooled: (entry) => scheduler.enqueue(entry),
        registry: metrics.registry,
        logger,
        dataDir: config.dataDir,
        keep: {
          maxKeptFiles: config.feedback.maxKeptFiles,
          maxKeptBytes: config.feedback.maxKeptBytes,
          keepDays: config.feedback.keepDays,
        },
        maxConcurrentReports: config.feedback.maxConcurrentReports,
      })
    : undefined;

  const accounts = new AccountDirectory(store).start();
  const intake = await startIntake({
    listen: config.listen.smtp,
    smtps: config.listen.smtps,
    ...(config.tls && options.tlsMaterial ? { tls: config.tls, tlsMaterial: options.tlsMaterial } : {}),
    config,
    store,
    spool,
    accounts,
    logger,
    metrics,
    newId: createIdGenerator(),
    onAccepted: (entry) => scheduler.enqueue(entry),
    ...(feedback ? { feedback } : {}),
  });
  return { store, webhooks, spool, scheduler, feedback, accounts, intake };
}

/**
 * Worker threads for per-recipient copies (relay/copy/pool.ts): one fewer than the
 * cores, at least one, at most four (the main thread keeps the SMTP sessions, spool and Store).
 * RELAYFLEET_COPY_WORKERS overrides it (1 to 16): every copy is made in a worker, so that no
 * message can stall the main thread.
 */
export function copyWorkerCount(
  env: NodeJS.ProcessEnv = process.env,
  cores = availableParallelism(),
): number {
  const set = Number.parseInt(env.RELAYFLEET_COPY_WORKERS ?? "", 10);
  if (Number.isInteger(set) && set >= 0) return Math.max(1, Math.min(set, 16));
  return Math.max(1, Math.min(4, cores - 1));
}
