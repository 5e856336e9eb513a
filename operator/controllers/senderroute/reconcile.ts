/**
 * SenderRoute reconcile, level-triggered: the route in the cluster, the
 * RelayPools of its namespace that use it (spec.senderRoute) and the blocked
 * pairs in their Redis are the inputs; the route table published in each of
 * those Redis servers (as "namespace/name") and status.blocked are the
 * outputs. A route is never published to a Redis none of its pools' relays
 * read. Blocks whose hold is over are cleared here, so every relay tries the
 * pair again at the same time. A deleted route's table is removed, and so is
 * the table in a Redis its pools left (a sweep removes tables left by routes
 * deleted while no operator ran).
 */
import { ZodError } from "zod";
import type { Store } from "../../../relay/store/types.js";
import type { BlockedPair } from "../../../relay/vocabulary.js";
import type { RelayPool } from "../../api/relaypool.js";
import type { BlockedEntry, SenderRoute, SenderRouteStatus } from "../../api/senderroute.js";
import type { KubeObject } from "../../kube/client.js";
import { type ConditionInput, setConditions } from "../../specs/conditions.js";
import {
  blockedStatus,
  nextRelease,
  pairsForRoute,
  pairsToRelease,
  publishedRouteTable,
  type SenderCredentials,
} from "../../specs/routes.js";
import {
  type ControllerContext,
  errorMessage,
  RELAY_POOLS,
  readSecret,
  SENDER_ROUTES,
  sameJson,
  splitKey,
} from "../context.js";
import { type RedisTarget, redisLabel, targetKey } from "../stores.js";

const pairKey = (entry: { sender: string; domain: string }) => `${entry.sender} → ${entry.domain}`;

export interface RouteReconciler {
  reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined>;
  /** Removes published tables ("ns/name") whose SenderRoute no longer exists. */
  sweep(existingKeys: ReadonlySet<string>): Promise<string[]>;
}

/** How often a route with Secret-held credentials is re-read (a rotated password takes effect). */
const CREDENTIALS_REFRESH_MS = 60_000;
const CREDENTIALS_RETRY_MS = 10_000;

/** A sender's credentials cannot be read: the message names the Secret and key. */
class CredentialsMissing extends Error {}

interface Targets {
  /** targetKey → the Redis and the pools that read it. */
  byKey: Map<string, { target: RedisTarget; pools: string[] }>;
  /** Pools whose Redis URL cannot be read (the message names pool, Secret and key). */
  problems: string[];
  /** Some pool's URL is in a Secret the operator does not watch: look again every minute. */
  fromSecrets: boolean;
}

export function routeReconciler(ctx: ControllerContext): RouteReconciler {
  /** Where each route's table was last written (targetKey → target), so a Redis its pools left is cleaned. */
  const publishedTo = new Map<string, Map<string, RedisTarget>>();

  /** The Redis servers of the pools in `namespace` whose spec.senderRoute is `name`. */
  async function targetsOf(namespace: string, name: string): Promise<Targets> {
    const pools = await ctx.client.list<RelayPool & KubeObject>({ ...RELAY_POOLS, namespace });
    const out: Targets = { byKey: new Map(), problems: [], fromSecrets: false };
    for (const pool of pools.items) {
      if ((pool.spec?.senderRoute ?? "default") !== name) continue;
      const { redis } = pool.spec;
      let url = redis.url;
      if (redis.secretRef) {
        out.fromSecrets = true;
        const secret = await readSecret(ctx, namespace, redis.secretRef.name);
        url = secret?.get(redis.secretRef.key);
        if (!url) {
          out.problems.push(
            `pool ${pool.metadata.name}: ${secret ? `secret ${redis.secretRef.name} has no key ${redis.secretRef.key}` : `secret ${redis.secretRef.name} not found`}`,
          );
          continue;
        }
      }
      if (!url) continue;
      const target = { url, cluster: redis.cluster };
      const key = targetKey(target);
      const entry = out.byKey.get(key) ?? { target, pools: [] };
      entry.pools.push(pool.metadata.name);
      out.byKey.set(key, entry);
    }
    return out;
  }

  /** Removes the route's table from every Redis it was written to and is no longer wanted in. */
  async function unpublish(key: string, keep: ReadonlySet<string>): Promise<void> {
    const before = publishedTo.get(key);
    if (!before) return;
    for (const [storeKey, target] of before) {
      if (keep.has(storeKey)) continue;
      // Best effort: a Redis gone for good must not fail every reconcile of the route after.
      await ctx.stores
        .use(target, (store) => store.deleteRouteTable(key))
        .catch((error: unknown) =>
          ctx.logger.warn(
            { route: key, err: errorMessage(error) },
            "could not remove a route table a pool left",
          ),
        );
      before.delete(storeKey);
    }
    if (before.size === 0) publishedTo.delete(key);
  }

  /** Reads every sender's authSecretRef from the route's namespace. */
  async function readCredentials(route: SenderRoute & KubeObject): Promise<SenderCredentials> {
    const credentials = new Map<string, { user: string; pass: string }>();
    for (const sender of route.spec.senders) {
      const ref = sender.authSecretRef;
      if (!ref) continue;
      const secret = await readSecret(ctx, route.metadata.namespace, ref.name);
      if (!secret) throw new CredentialsMissing(`sender ${sender.name}: secret ${ref.name} not found`);
      const value = (key: string) => {
        const found = secret.get(key);
        if (!found)
          throw new CredentialsMissing(`sender ${sender.name}: secret ${ref.name} has no key ${key}`);
        return found;
      };
      credentials.set(sender.name, { user: value(ref.userKey), pass: value(ref.passwordKey) });
    }
    return credentials;
  }

  async function writeStatus(route: SenderRoute & KubeObject, status: SenderRouteStatus): Promise<void> {
    if (sameJson(status, route.status ?? {})) return;
    const { name, namespace } = route.metadata;
    await ctx.client.apply(
      { ...SENDER_ROUTES, namespace },
      { apiVersion: route.apiVersion, kind: route.kind, metadata: { name, namespace }, status },
      ctx.fieldManager,
      { subresource: "status" },
    );
  }

  async function reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const { namespace, name } = splitKey(key);
    const route = await ctx.client.find<SenderRoute & KubeObject>({ ...SENDER_ROUTES, namespace }, name);
    if (!route || route.metadata.deletionTimestamp) {
      // Wherever it may be: no Redis is opened just to look (a pool may name a route that never existed).
      // Best effort per Redis: one that is down keeps its table until the sweep finds it.
      for (const { store } of await ctx.stores.openStores())
        await store
          .deleteRouteTable(key)
          .catch((error: unknown) =>
            ctx.logger.warn(
              { route: key, err: errorMessage(error) },
              "could not remove a deleted route's table",
            ),
          );
      publishedTo.delete(key);
      ctx.metrics.blockedPairs.remove({ namespace, route: name });
      return undefined;
    }
    const targets = await targetsOf(namespace, name);
    const now = ctx.now();
    // Blocks are reported by the relays into their own Redis: the route sees them all.
    const stored: BlockedPair[] = [];
    // A Redis that cannot be reached holds up neither the others nor the status that says so.
    const unreachable = new Map<string, string>();
    const reach = async (storeKey: string, pools: string[], call: () => Promise<void>) => {
      if (unreachable.has(storeKey)) return;
      try {
        await call();
      } catch (error) {
        unreachable.set(storeKey, `pool(s) ${pools.join(", ")}: ${errorMessage(error)}`);
      }
    };
    for (const [storeKey, { target, pools }] of targets.byKey)
      await reach(storeKey, pools, () =>
        ctx.stores.use(target, async (store) => {
          const blockedHere = await store.listBlocked(now);
          for (const pair of pairsToRelease(route.spec, blockedHere, now))
            await store.clearBlocked(pair.sender, pair.domain);
          stored.push(...blockedHere);
        }),
      );
    const active = pairsForRoute(route.spec, dedupeBlocked(stored), now);

    let credentials: SenderCredentials;
    try {
      credentials = await readCredentials(route);
    } catch (error) {
      if (!(error instanceof CredentialsMissing)) throw error;
      // The table already published (if any) stays: better old credentials than none.
      await ctx.recorder.record(route, "Warning", "CredentialsMissing", error.message);
      await writeStatus(route, {
        ...(route.status ?? {}),
        observedGeneration: route.metadata.generation ?? 0,
        conditions: setConditions(
          route.status?.conditions,
          [{ type: "Ready", status: "False", reason: "CredentialsMissing", message: error.message }],
          route.metadata.generation,
          new Date(now),
        ),
      });
      // Soon again: the Secret is usually being created right now.
      return { requeueAfterMs: CREDENTIALS_RETRY_MS };
    }
    let published: ReturnType<typeof publishedRouteTable>;
    try {
      published = publishedRouteTable(route.spec, active, credentials);
    } catch (error) {
      // The CRD schema catches almost everything; what it cannot (an address that is no IP) lands here.
      if (!(error instanceof ZodError)) throw error;
      const message = error.issues.map((i) => `spec.${i.path.join(".")}: ${i.message}`).join("; ");
      await ctx.recorder.record(route, "Warning", "InvalidRoute", message);
      await writeStatus(route, {
        ...(route.status ?? {}),
        observedGeneration: route.metadata.generation ?? 0,
        conditions: setConditions(
          route.status?.conditions,
          [{ type: "Ready", status: "False", reason: "InvalidRoute", message }],
          route.metadata.generation,
          new Date(now),
        ),
      });
      return undefined;
    }
    const written = new Map<string, RedisTarget>();
    for (const [storeKey, { target, pools }] of targets.byKey)
      await reach(storeKey, pools, async () => {
        await ctx.stores.use(target, async (store: Store) => {
          const before = await store.getRouteTable(key);
          if (!before || !sameJson(before, published.table)) await store.putRouteTable(key, published.table);
        });
        written.set(storeKey, target);
      });
    await unpublish(key, new Set(targets.byKey.keys()));
    if (written.size > 0) publishedTo.set(key, new Map([...(publishedTo.get(key) ?? []), ...written]));

    // Events and counters for what changed since the status last said.
    const blocked: BlockedEntry[] = blockedStatus(route.spec, active);
    const was = new Set((route.status?.blocked ?? []).map(pairKey));
    const is = new Set(blocked.map(pairKey));
    for (const entry of blocked)
      if (!was.has(pairKey(entry))) {
        ctx.metrics.blocks.inc({ namespace, route: name });
        await ctx.recorder.record(
          route,
          "Warning",
          "SenderBlocked",
          `${pairKey(entry)} blocked until ${entry.until}; mail for ${entry.domain} fails over (${entry.reason})`,
        );
      }
    for (const entry of route.status?.blocked ?? [])
      if (!is.has(pairKey(entry))) {
        ctx.metrics.releases.inc({ namespace, route: name });
        await ctx.recorder.record(
          route,
          "Normal",
          "SenderReleased",
          `${pairKey(entry)} released after its hold`,
        );
      }
    ctx.metrics.blockedPairs.set({ namespace, route: name }, blocked.length);

    const poolNames = [...targets.byKey]
      .filter(([storeKey]) => written.has(storeKey))
      .flatMap(([, entry]) => entry.pools)
      .sort();
    const publishedFor = poolNames.length > 0 ? `; published for ${poolNames.join(", ")}` : "";
    const ready: ConditionInput =
      targets.problems.length > 0
        ? {
            type: "Ready",
            status: "False",
            reason: "PoolRedisUnknown",
            message: `cannot tell where to publish for ${[...targets.problems, ...unreachable.values()].join("; ")}${publishedFor}`,
          }
        : unreachable.size > 0
          ? {
              type: "Ready",
              status: "False",
              reason: "RedisUnavailable",
              message: `cannot publish for ${[...unreachable.values()].join("; ")}${publishedFor}`,
            }
          : poolNames.length === 0
            ? {
                type: "Ready",
                status: "False",
                reason: "NoPool",
                message: `no RelayPool in ${namespace} uses this route (spec.senderRoute): published nowhere`,
              }
            : {
                type: "Ready",
                status: "True",
                reason: "Published",
                message: `published as route table ${key} to the Redis of pool(s) ${poolNames.join(", ")}`,
              };
    const conditions: ConditionInput[] = [
      ready,
      published.stranded.length > 0
        ? {
            type: "Degraded",
            status: "True",
            reason: "NoFailover",
            message: `every allowed sender is blocked for ${published.stranded.join(", ")}: that mail waits`,
          }
        : {
            type: "Degraded",
            status: "False",
            reason: "AsExpected",
            message: `${blocked.length} pairs routed around`,
          },
    ];
    await writeStatus(route, {
      blocked,
      blockedCount: blocked.length,
      publishedGeneration: route.metadata.generation ?? 0,
      publishedAs: key,
      conditions: setConditions(
        route.status?.conditions,
        conditions,
        route.metadata.generation,
        new Date(now),
      ),
      observedGeneration: route.metadata.generation ?? 0,
    });
    const release = nextRelease(route.spec, active);
    const untilRelease = release === undefined ? undefined : Math.max(release - ctx.now(), 0) + 20;
    // Credentials live in Secrets the operator does not watch: read them again every minute.
    const refresh =
      unreachable.size > 0
        ? CREDENTIALS_RETRY_MS
        : credentials.size > 0 || targets.fromSecrets
          ? CREDENTIALS_REFRESH_MS
          : undefined;
    const next = Math.min(untilRelease ?? Number.POSITIVE_INFINITY, refresh ?? Number.POSITIVE_INFINITY);
    return Number.isFinite(next) ? { requeueAfterMs: next } : undefined;
  }

  return {
    async reconcile(key) {
      try {
        return await reconcile(key);
      } catch (error) {
        const { namespace, name } = splitKey(key);
        const route = await ctx.client
          .find<SenderRoute & KubeObject>({ ...SENDER_ROUTES, namespace }, name)
          .catch(() => undefined);
        if (route)
          await ctx.recorder.record(
            route,
            "Warning",
            "ReconcileFailed",
            `while publishing: ${errorMessage(error)}`,
          );
        throw error;
      }
    },
    async sweep(existingKeys) {
      const removed: string[] = [];
      for (const { key: storeKey, target, store } of await ctx.stores.openStores()) {
        try {
          for (const { name } of await store.listRouteTables()) {
            // Only "namespace/name" tables are the operator's; plain names come from relay config.
            if (!name.includes("/")) continue;
            const published = publishedTo.get(name);
            const wanted = existingKeys.has(name) && (published === undefined || published.has(storeKey));
            if (wanted) continue;
            await store.deleteRouteTable(name);
            removed.push(name);
          }
        } catch (error) {
          // One Redis down: the others are still swept, and unused connections still closed.
          ctx.logger.warn(
            { redis: redisLabel(target.url), err: errorMessage(error) },
            "route table sweep failed",
          );
        }
      }
      // A Redis no route is published to any more is closed.
      const inUse = new Set([...publishedTo.values()].flatMap((targets) => [...targets.keys()]));
      await ctx.stores.prune(inUse);
      return removed;
    },
  };
}

/** One entry per (sender, domain), the one held longest, when several Redis servers report it. */
function dedupeBlocked(pairs: readonly BlockedPair[]): BlockedPair[] {
  const byPair = new Map<string, BlockedPair>();
  for (const pair of pairs) {
    const key = pairKey(pair);
    const found = byPair.get(key);
    if (!found || pair.until > found.until) byPair.set(key, pair);
  }
  return [...byPair.values()];
}
