/**
 * The operator process: leader election first; only the leader starts the
 * watches, work queues and reconcilers, and it stops them all the moment it
 * loses the Lease, so two replicas never act at once.
 */
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { openRedisStore } from "../relay/store/redis/index.js";
import type { Store } from "../relay/store/types.js";
import { type ControllerContext, errorMessage, type RelayAddress } from "./controllers/context.js";
import { Autoscaler } from "./controllers/relaypool/autoscale.js";
import { poolReconciler } from "./controllers/relaypool/reconcile.js";
import { routeReconciler } from "./controllers/senderroute/reconcile.js";
import { type RedisTarget, type StoreOpener, StoreRegistry } from "./controllers/stores.js";
import { poolWatches, routeWatches } from "./controllers/watches.js";
import { KubeClient, type KubeObject } from "./kube/client.js";
import { eventRecorder } from "./kube/events.js";
import { ResilientInformer } from "./kube/informer.js";
import { LeaderElector } from "./kube/leader.js";
import { WorkQueue } from "./kube/workqueue.js";
import {
  createOperatorMetrics,
  type HealthServer,
  type OperatorMetrics,
  startHealthServer,
} from "./metrics.js";
import { FIELD_MANAGER, PORTS } from "./specs/labels.js";

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /**
   * The operator's own Redis (--redis), if any: pools whose Redis is this one share its
   * connection. SenderRoutes are published to the Redis of the pools that use them, not here.
   */
  store?: { target: RedisTarget; store: Store };
  /** Opens a pool's Redis (default: the relay's Redis Store). Tests give each run its key prefix. */
  openStore?: StoreOpener;
  logger: Logger;
  identity?: string;
  leaseNamespace?: string;
  leaseName?: string;
  leaderElection?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  informer?: { watchdogMs?: number; relistMs?: number };
  /** Health and metrics listener; undefined: none. 0: any free port. */
  healthPort?: number;
  healthHost?: string;
  relayAddress?: (pod: KubeObject & { status?: { podIP?: string } }) => RelayAddress | undefined;
  fetchTimeoutMs?: number;
  workers?: number;
  sweepIntervalMs?: number;
  now?: () => number;
}

export interface Operator {
  readonly isLeader: boolean;
  readonly metrics: OperatorMetrics;
  readonly healthPort: number | undefined;
  /** Informer restarts so far (tests watch the watchdog with it). */
  informerRestarts(): number;
  stop(): Promise<void>;
}

const defaultRelayAddress = (pod: { status?: { podIP?: string } }): RelayAddress | undefined => {
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  const host = ip.includes(":") ? `[${ip}]` : ip;
  return { api: `http://${host}:${PORTS.api}`, metrics: `http://${host}:${PORTS.metrics}/metrics` };
};

interface Running {
  stop(): Promise<void>;
  informers: ResilientInformer[];
}

export async function startOperator(options: OperatorOptions): Promise<Operator> {
  const { logger } = options;
  const client = new KubeClient(options.kubeConfig);
  const metrics = createOperatorMetrics();
  const stores = new StoreRegistry(
    options.openStore ??
      ((target) =>
        openRedisStore({
          url: target.url,
          cluster: target.cluster,
          logger: logger.child({ component: "store" }),
        })),
  );
  if (options.store) stores.pin(options.store.target, options.store.store);
  const ctx: ControllerContext = {
    kubeConfig: options.kubeConfig,
    client,
    stores,
    recorder: eventRecorder(client, FIELD_MANAGER, logger),
    metrics,
    logger,
    fieldManager: FIELD_MANAGER,
    now: options.now ?? Date.now,
    relayAddress: options.relayAddress ?? defaultRelayAddress,
    fetchTimeoutMs: options.fetchTimeoutMs ?? 5_000,
  };
  let running: Running | undefined;
  let starting: Promise<void> | undefined;
  let restartsBefore = 0;

  const lead = async (): Promise<Running> => {
    const stops: (() => void | Promise<void>)[] = [];
    const informers: ResilientInformer[] = [];
    const runQueue = (
      kind: string,
      reconcile: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>,
    ) => {
      const queue = new WorkQueue();
      const done = queue.run(
        async (key) => {
          const result = await reconcile(key);
          metrics.reconciles.inc({
            kind,
            result: result?.requeueAfterMs !== undefined ? "requeue" : "success",
          });
          return result;
        },
        options.workers ?? 2,
        (key, error) => {
          metrics.reconciles.inc({ kind, result: "error" });
          logger.warn({ kind, key, err: errorMessage(error) }, "reconcile failed; retrying with backoff");
        },
      );
      stops.push(async () => {
        queue.stop();
        await done;
      });
      return queue;
    };
    const watch = async (queue: WorkQueue, watches: typeof poolWatches) => {
      for (const spec of watches) {
        const informer = new ResilientInformer(options.kubeConfig, client, {
          ...spec,
          enqueue: (key) => queue.add(key),
          logger,
          ...(options.informer ?? {}),
        });
        informers.push(informer);
        stops.unshift(() => informer.stop());
        await informer.start();
      }
    };

    const pools = poolReconciler(ctx, new Autoscaler(ctx));
    const poolQueue = runQueue("RelayPool", pools.reconcile);
    const routes = routeReconciler(ctx);
    const routeQueue = runQueue("SenderRoute", routes.reconcile);
    const routeInformerIndex = informers.length;
    await watch(routeQueue, routeWatches);
    const routeInformer = informers[routeInformerIndex] as ResilientInformer;
    const routeKeys = () =>
      new Set(routeInformer.list().map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`));
    stores.onChange((change) => {
      if (change.kind === "blocked") for (const key of routeKeys()) routeQueue.add(key);
      else if (change.kind === "routes" && change.name.includes("/")) routeQueue.add(change.name);
    });
    stops.push(() => stores.onChange(undefined));
    const sweep = () =>
      routes.sweep(routeKeys()).then(
        (removed) =>
          removed.length > 0 && logger.info({ removed }, "removed route tables of deleted SenderRoutes"),
        (error: unknown) => logger.warn({ err: errorMessage(error) }, "route table sweep failed"),
      );
    void sweep();
    const sweepTimer = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
    sweepTimer.unref();
    stops.push(() => clearInterval(sweepTimer));
    await watch(poolQueue, poolWatches);
    return {
      informers,
      async stop() {
        for (const stop of stops) await stop();
      },
    };
  };

  const elector = new LeaderElector(client, {
    namespace: options.leaseNamespace ?? process.env.POD_NAMESPACE ?? "default",
    name: options.leaseName ?? "relayfleet-operator",
    identity: options.identity ?? `${hostname()}-${process.pid}`,
    ...(options.leaderElection ?? {}),
    logger,
    onStartedLeading: () => {
      metrics.leader.set(1);
      starting = lead().then(
        (started) => {
          running = started;
        },
        (error: unknown) => logger.error({ err: error }, "could not start the controllers"),
      );
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      const stopping = (starting ?? Promise.resolve()).then(async () => {
        const current = running;
        running = undefined;
        restartsBefore += current?.informers.reduce((n, i) => n + i.restarts, 0) ?? 0;
        await current?.stop();
      });
      starting = stopping;
    },
  });
  elector.start();

  let health: HealthServer | undefined;
  if (options.healthPort !== undefined)
    health = await startHealthServer({
      port: options.healthPort,
      ...(options.healthHost ? { host: options.healthHost } : {}),
      metrics,
      ready: () => !elector.isLeader || (running?.informers.every((i) => i.hasSynced) ?? false),
    });

  return {
    get isLeader() {
      return elector.isLeader;
    },
    metrics,
    healthPort: health?.port,
    informerRestarts: () => restartsBefore + (running?.informers.reduce((n, i) => n + i.restarts, 0) ?? 0),
    async stop() {
      await elector.stop();
      await starting;
      await running?.stop();
      running = undefined;
      await stores.closeAll();
      await health?.close();
    },
  };
}
