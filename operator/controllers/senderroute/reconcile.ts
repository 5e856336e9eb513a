/**
 * SenderRoute reconcile, level-triggered: the route in the cluster and the
 * blocked pairs in the Store are the inputs; the route table published in
 * the Store (as "namespace/name") and status.blocked are the outputs.
 * Blocks whose hold is over are cleared from the Store here, so every relay
 * tries the pair again at the same time. A deleted route's table is removed
 * (and a sweep removes tables left by routes deleted while no operator ran).
 */
import { ZodError } from "zod";
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
  readSecret,
  SENDER_ROUTES,
  sameJson,
  splitKey,
} from "../context.js";

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

export function routeReconciler(ctx: ControllerContext): RouteReconciler {
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
      await ctx.store.deleteRouteTable(key);
      ctx.metrics.blockedPairs.remove({ namespace, route: name });
      return undefined;
    }
    const now = ctx.now();
    const stored = await ctx.store.listBlocked(now);
    for (const pair of pairsToRelease(route.spec, stored, now))
      await ctx.store.clearBlocked(pair.sender, pair.domain);
    const active = pairsForRoute(route.spec, stored, now);

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
    const before = await ctx.store.getRouteTable(key);
    if (!before || !sameJson(before, published.table)) await ctx.store.putRouteTable(key, published.table);

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

    const conditions: ConditionInput[] = [
      { type: "Ready", status: "True", reason: "Published", message: `published as route table ${key}` },
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
    const refresh = credentials.size > 0 ? CREDENTIALS_REFRESH_MS : undefined;
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
      for (const { name } of await ctx.store.listRouteTables()) {
        // Only "namespace/name" tables are the operator's; plain names come from relay config.
        if (!name.includes("/") || existingKeys.has(name)) continue;
        await ctx.store.deleteRouteTable(name);
        removed.push(name);
      }
      return removed;
    },
  };
}
