/**
 * The door to scheduling and delivery: `startScheduler` wires the routing
 * directory, outbound pools, MX look-ups, copy delivery, notices and the
 * fair scheduler, and resumes every message found in the spool.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  CopyMaker,
  CopyPool,
  DEFAULT_COPY_DEADLINE,
  type DeliveryMode,
  type TransformFn,
} from "../copy/index.js";
import { CopyDeliverer } from "../delivery/deliverer.js";
import { RoutingDirectory } from "../delivery/directory.js";
import { MxCache, type MxResolver, systemMxResolver } from "../delivery/mx.js";
import { type Timeouts, TransportPool } from "../delivery/transport.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import { Notifier } from "../notify/index.js";
import { createIdGenerator } from "../spool/id.js";
import { CRASHES_BEFORE_QUARANTINE, InFlightJournal } from "../spool/in-flight.js";
import { scanProgress } from "../spool/progress.js";
import { Quarantine, type QuarantineRecord } from "../spool/quarantine.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { Store } from "../store/types.js";
import type { TokenKeyring } from "../tracking/token.js";
import { transformForRecipient } from "../transform/index.js";
import type { RetryPolicy } from "./retry.js";
import { Scheduler, type SchedulerCounts } from "./scheduler.js";
import type { SlotLimits } from "./slots.js";

export type { DeliveryMode, TransformFn } from "../copy/index.js";
export type { MxRecord, MxResolver } from "../delivery/mx.js";
export type { RetryPolicy } from "./retry.js";
export type { SlotLimits } from "./slots.js";

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
  /** Issue 11: each copy's envelope sender (VERP, relay/feedback `returnPathFor`). */
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
