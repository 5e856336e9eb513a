/**
 * The Redis adapter of the Store (types.ts is the specification).
 *
 * Layout and atomicity: keys.ts (hash tags per slot), scripts/*.lua (one
 * script per multi-key change, each with a KEYS/ARGV/returns header).
 * Changes that span slots (message log indexes, stats aggregates) are
 * ordered single-slot steps; messages.ts and stats.ts say why each is safe.
 */

import { type Logger, silentLogger } from "../../log/logger.js";
import { type Store, StoreError } from "../types.js";
import * as accounts from "./accounts.js";
import { type ChangeFeed, openChangeFeed } from "./changes.js";
import type { RedisClient } from "./connection.js";
import { closeClient, createClient, guard } from "./connection.js";
import type { RedisContext } from "./context.js";
import * as counters from "./counters.js";
import * as errorsLog from "./errors-log.js";
import { storeKeys } from "./keys.js";
import * as messages from "./messages.js";
import * as outbox from "./outbox.js";
import * as routing from "./routing.js";
import { defineScripts, loadScripts } from "./scripts.js";
import * as stats from "./stats.js";
import * as suppressions from "./suppressions.js";
import * as webhooks from "./webhooks.js";

export interface RedisStoreOptions {
  /** redis://[user:pass@]host:port[/db] or rediss:// */
  url: string;
  /** Namespace for every key and the change channel. Default "rf:". */
  prefix?: string;
  /** The URL names a node of a Redis Cluster (connection.ts createClient). */
  cluster?: boolean;
  logger?: Logger;
}

/** Logs a connection's errors once per outage rather than once per reconnect attempt. */
function watchConnection(client: RedisClient, logger: Logger, role: string): void {
  let failing = false;
  client.on("error", (error: Error) => {
    if (failing) return;
    failing = true;
    logger.warn({ err: error, role }, "Redis connection failed; reconnecting");
  });
  client.on("ready", () => {
    if (failing) logger.info({ role }, "Redis connection restored");
    failing = false;
  });
}

/**
 * Connects (failing with StoreError("unavailable") when Redis cannot be
 * reached) and subscribes to the change channel before returning, so a
 * caller sees its own changes from the first write on.
 */
export async function openRedisStore(options: RedisStoreOptions): Promise<Store> {
  const logger = (options.logger ?? silentLogger()).child({ component: "store-redis" });
  const keys = storeKeys(options.prefix ?? "rf:");
  const loaded = loadScripts();
  const client = createClient(options.url, { cluster: options.cluster ?? false });
  const subscriber = client.duplicate();
  watchConnection(client, logger, "commands");
  watchConnection(subscriber, logger, "subscriber");

  let feed: ChangeFeed;
  try {
    await client.connect();
    await subscriber.connect();
    feed = await openChangeFeed(subscriber, keys.changes, logger);
  } catch (error) {
    client.disconnect();
    subscriber.disconnect();
    const message = error instanceof Error ? error.message : String(error);
    throw new StoreError("unavailable", `cannot connect to Redis: ${message}`, { cause: error });
  }

  const ctx: RedisContext = {
    client,
    keys,
    scripts: defineScripts(client, loaded),
    async notify(change) {
      await client.publish(keys.changes, JSON.stringify(change));
    },
  };

  return {
    kind: "redis",

    putAccount: (account) => guard("putAccount", () => accounts.putAccount(ctx, account)),
    getAccount: (name) => guard("getAccount", () => accounts.getAccount(ctx, name)),
    listAccounts: () => guard("listAccounts", () => accounts.listAccounts(ctx)),
    deleteAccount: (name) => guard("deleteAccount", () => accounts.deleteAccount(ctx, name)),
    findAccountByUsername: (username) =>
      guard("findAccountByUsername", () => accounts.findAccountByUsername(ctx, username)),
    findAccountByClient: (ip, from) =>
      guard("findAccountByClient", () => accounts.findAccountByClient(ctx, ip, from)),

    putApiKey: (key) => guard("putApiKey", () => accounts.putApiKey(ctx, key)),
    findApiKey: (hash) => guard("findApiKey", () => accounts.findApiKey(ctx, hash)),
    deleteApiKey: (account, id) => guard("deleteApiKey", () => accounts.deleteApiKey(ctx, account, id)),

    addSuppression: (account, entry) =>
      guard("addSuppression", () => suppressions.addSuppression(ctx, account, entry)),
    removeSuppression: (account, list, address) =>
      guard("removeSuppression", () => suppressions.removeSuppression(ctx, account, list, address)),
    getSuppression: (account, list, address) =>
      guard("getSuppression", () => suppressions.getSuppression(ctx, account, list, address)),
    suppressionsFor: (account, address) =>
      guard("suppressionsFor", () => suppressions.suppressionsFor(ctx, account, address)),
    listSuppressions: (account, list, query) =>
      guard("listSuppressions", () => suppressions.listSuppressions(ctx, account, list, query)),

    checkAndIncrement: (account, limits, count, now) =>
      guard("checkAndIncrement", () => counters.checkAndIncrement(ctx, account, limits, count, now)),
    getCounts: (account, now) => guard("getCounts", () => counters.getCounts(ctx, account, now)),
    hit: (key, windowSeconds, now) => guard("hit", () => counters.hit(ctx, key, windowSeconds, now)),

    addGroup: (account, name, now) => guard("addGroup", () => counters.addGroup(ctx, account, name, now)),
    listGroups: (account) => guard("listGroups", () => counters.listGroups(ctx, account)),

    recordMessage: (message) => guard("recordMessage", () => messages.recordMessage(ctx, message)),
    recordAttempt: (messageId, recipient, attempt) =>
      guard("recordAttempt", () => messages.recordAttempt(ctx, messageId, recipient, attempt)),
    markSuppressed: (messageId, recipient, reason, now) =>
      guard("markSuppressed", () => messages.markSuppressed(ctx, messageId, recipient, reason, now)),
    getMessage: (id) => guard("getMessage", () => messages.getMessage(ctx, id)),
    listMessages: (account, query) => guard("listMessages", () => messages.listMessages(ctx, account, query)),
    purgeMessages: (before) => guard("purgeMessages", () => messages.purgeMessages(ctx, before)),

    recordEvent: (event) => guard("recordEvent", () => stats.recordEvent(ctx, event)),
    getMessageStats: (messageId) => guard("getMessageStats", () => stats.getMessageStats(ctx, messageId)),
    getGroupStats: (account, group, range) =>
      guard("getGroupStats", () => stats.getGroupStats(ctx, account, group, range)),
    getReport: (account, dimension, range) =>
      guard("getReport", () => stats.getReport(ctx, account, dimension, range)),

    recordError: (account, error) => guard("recordError", () => errorsLog.recordError(ctx, account, error)),
    listErrors: (account, query) => guard("listErrors", () => errorsLog.listErrors(ctx, account, query)),

    putRouteTable: (name, table) => guard("putRouteTable", () => routing.putRouteTable(ctx, name, table)),
    getRouteTable: (name) => guard("getRouteTable", () => routing.getRouteTable(ctx, name)),
    listRouteTables: () => guard("listRouteTables", () => routing.listRouteTables(ctx)),
    deleteRouteTable: (name) => guard("deleteRouteTable", () => routing.deleteRouteTable(ctx, name)),
    reportBlocked: (pair) => guard("reportBlocked", () => routing.reportBlocked(ctx, pair)),
    listBlocked: (now) => guard("listBlocked", () => routing.listBlocked(ctx, now)),
    clearBlocked: (sender, domain) => guard("clearBlocked", () => routing.clearBlocked(ctx, sender, domain)),

    putWebhook: (webhook) => guard("putWebhook", () => webhooks.putWebhook(ctx, webhook)),
    listWebhooks: (account) => guard("listWebhooks", () => webhooks.listWebhooks(ctx, account)),
    deleteWebhook: (account, id) => guard("deleteWebhook", () => webhooks.deleteWebhook(ctx, account, id)),

    enqueueWebhookDeliveries: (account, deliveries, maxPerAccount) =>
      guard("enqueueWebhookDeliveries", () =>
        outbox.enqueueWebhookDeliveries(ctx, account, deliveries, maxPerAccount),
      ),
    claimWebhookDeliveries: (request) =>
      guard("claimWebhookDeliveries", () => outbox.claimWebhookDeliveries(ctx, request)),
    finishWebhookDelivery: (delivery) =>
      guard("finishWebhookDelivery", () => outbox.finishWebhookDelivery(ctx, delivery)),
    retryWebhookDelivery: (delivery, dueAt) =>
      guard("retryWebhookDelivery", () => outbox.retryWebhookDelivery(ctx, delivery, dueAt)),
    countWebhookDeliveries: (account) =>
      guard("countWebhookDeliveries", () => outbox.countWebhookDeliveries(ctx, account)),

    onChange: (listener) => feed.onChange(listener),

    ping: () =>
      guard("ping", async () => {
        await client.ping();
      }),
    async close() {
      feed.close();
      await Promise.all([closeClient(subscriber), closeClient(client)]);
    },
  };
}
