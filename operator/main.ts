/**
 * `relayfleet operator [--kubeconfig FILE] [--redis URL] [--redis-cluster] [--health-port N]`:
 * in-cluster config unless a kubeconfig is given. SenderRoutes are published
 * to the Redis of the pools that use them (each pool's spec.redis), where
 * blocked reports are read too; --redis or REDIS_URL (optional) is opened at
 * start and shared with the pools that name the same Redis. Runs until
 * SIGTERM/SIGINT, then releases its Lease.
 */
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger, type LogLevel } from "../relay/log/logger.js";
import { openRedisStore } from "../relay/store/redis/index.js";
import { startOperator } from "./operator.js";

export class OperatorUsageError extends Error {}

export async function runOperator(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: "string" },
      redis: { type: "string" },
      "redis-cluster": { type: "boolean" },
      "health-port": { type: "string" },
      "lease-namespace": { type: "string" },
      "log-level": { type: "string" },
    },
    strict: true,
  });
  const redisUrl = values.redis ?? env.REDIS_URL;
  const logger = createLogger({ level: (values["log-level"] ?? env.LOG_LEVEL ?? "info") as LogLevel });
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromCluster();
  // --redis-cluster or REDIS_CLUSTER=true: the URL names a node of a Redis Cluster.
  const cluster = values["redis-cluster"] === true || env.REDIS_CLUSTER === "true";
  const store = redisUrl
    ? await openRedisStore({ url: redisUrl, cluster, logger: logger.child({ component: "store" }) })
    : undefined;
  const operator = await startOperator({
    kubeConfig,
    ...(store && redisUrl ? { store: { target: { url: redisUrl, cluster }, store } } : {}),
    logger,
    healthPort: Number(values["health-port"] ?? 8080),
    ...(values["lease-namespace"] ? { leaseNamespace: values["lease-namespace"] } : {}),
  });
  logger.info({ health: operator.healthPort }, "operator started; campaigning for the lease");
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    operator
      .stop()
      .then(() => store?.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "stop failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
