/**
 * Deleting a RelayPool drains it first. The pool carries the finalizer
 * `relayfleet.io/drain` from its first reconcile; once it is being deleted:
 *   1. its DNS records are withdrawn (the DNSEndpoint lists no target) and the
 *      time is noted on the pool (`relayfleet.io/dns-removed-at`);
 *   2. after one spec.dnsTTL (clients may hold the records that long) its
 *      relays leave one at a time, highest first, through the scale-down
 *      drain (drain.ts): each stops taking mail, delivers its queue, and at
 *      spec.drain.timeoutSeconds hands what is left to the relays still
 *      serving; the last one has no relay to hand to, so what it still holds
 *      at its deadline stays on its volume, and an event says how many
 *      messages on which volume;
 *   3. with no relay left the finalizer goes, and the garbage collector
 *      removes everything the pool owns (a StatefulSet's spool claims are
 *      retained, so that mail is still there for a pool of the same name).
 * All of it is state on the pool and its pods, so a new leader resumes it.
 */
import type { RelayPool } from "../../api/relaypool.js";
import { isConflict, type KubeObject } from "../../kube/client.js";
import { setConditions } from "../../specs/conditions.js";
import { isServing, type PodView, podsToRemove } from "../../specs/endpoints.js";
import { DNS_REMOVED_ANNOTATION, DRAIN_FINALIZER, DRAIN_STARTED_ANNOTATION } from "../../specs/labels.js";
import { dnsEndpoint } from "../../specs/network.js";
import { workload } from "../../specs/workload.js";
import { type ControllerContext, RELAY_POOLS } from "../context.js";
import { drainVictims } from "./drain.js";

export type PoolObject = RelayPool & KubeObject;

export interface DeletionIo {
  apply(object: KubeObject, plural: string): Promise<unknown>;
  serves(apiVersion: string, plural: string): Promise<boolean>;
}

const ROUND_MS = 1_000;

export const hasDrainFinalizer = (pool: PoolObject) =>
  (pool.metadata.finalizers ?? []).includes(DRAIN_FINALIZER);

/** The finalizer list is replaced whole; the resourceVersion makes a concurrent change a Conflict (requeue). */
export async function addDrainFinalizer(ctx: ControllerContext, pool: PoolObject): Promise<void> {
  await ctx.client.mergePatch({ ...RELAY_POOLS, namespace: pool.metadata.namespace }, pool.metadata.name, {
    metadata: {
      resourceVersion: pool.metadata.resourceVersion,
      finalizers: [...(pool.metadata.finalizers ?? []), DRAIN_FINALIZER],
    },
  });
}

async function removeDrainFinalizer(ctx: ControllerContext, pool: PoolObject): Promise<void> {
  await ctx.client.mergePatch({ ...RELAY_POOLS, namespace: pool.metadata.namespace }, pool.metadata.name, {
    metadata: {
      resourceVersion: pool.metadata.resourceVersion,
      finalizers: (pool.metadata.finalizers ?? []).filter((f) => f !== DRAIN_FINALIZER),
    },
  });
}

/** Where a relay's spool lives, for the event that says mail stayed behind. */
export function spoolVolumeOf(pool: RelayPool, pod: string): string {
  return pool.spec.workload === "StatefulSet"
    ? `PersistentVolumeClaim spool-${pod} (retained: a RelayPool named ${pool.metadata.name} delivers it when ${pod} runs again)`
    : `the emptyDir spool of pod ${pod} (gone with the pod)`;
}

async function reportDeleting(ctx: ControllerContext, pool: PoolObject, message: string): Promise<void> {
  const current = pool.status?.conditions?.find((c) => c.type === "Ready");
  if (current?.reason === "Deleting" && current.message === message) return;
  const conditions = setConditions(
    pool.status?.conditions,
    [{ type: "Ready", status: "False", reason: "Deleting", message }],
    pool.metadata.generation,
    new Date(ctx.now()),
  );
  await ctx.client.mergePatch(
    { ...RELAY_POOLS, namespace: pool.metadata.namespace },
    pool.metadata.name,
    { status: { conditions } },
    "status",
  );
}

/** One round of a deletion; returns when to look again, or undefined once the finalizer is gone. */
export async function drainForDeletion(
  ctx: ControllerContext,
  io: DeletionIo,
  pool: PoolObject,
  apiToken: string,
  pods: PodView[],
  currentReplicas: number | undefined,
): Promise<{ requeueAfterMs?: number } | undefined> {
  const { namespace } = pool.metadata;
  const now = ctx.now();

  // 1. Out of DNS before anything refuses mail.
  let removedAt = Date.parse(pool.metadata.annotations?.[DNS_REMOVED_ANNOTATION] ?? "");
  if (Number.isNaN(removedAt)) {
    const empty = dnsEndpoint(pool, []);
    if (empty && (await io.serves("externaldns.k8s.io/v1alpha1", "dnsendpoints")))
      await io.apply(empty, "dnsendpoints");
    removedAt = now;
    await ctx.client.mergePatch({ ...RELAY_POOLS, namespace }, pool.metadata.name, {
      metadata: { annotations: { [DNS_REMOVED_ANNOTATION]: new Date(removedAt).toISOString() } },
    });
    await ctx.recorder.record(
      pool,
      "Normal",
      "Deleting",
      `DNS records withdrawn; the relays drain once their ${pool.spec.dnsTTL} s TTL has passed, then the pool goes`,
    );
  }
  // No hostname, no records: nothing for clients to hold on to.
  const ttlLeft = pool.spec.hostname ? pool.spec.dnsTTL * 1000 - (now - removedAt) : 0;
  if (ttlLeft > 0) {
    await reportDeleting(ctx, pool, "waiting out the DNS TTL before draining");
    return { requeueAfterMs: Math.min(ttlLeft + 50, 5_000) };
  }

  // 3. Nothing left: let the garbage collector have the rest.
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  if (pods.length === 0 && (currentReplicas ?? 0) === 0) {
    const removed = await removeDrainFinalizer(ctx, pool).then(
      () => true,
      (error: unknown) => {
        if (isConflict(error)) return false;
        throw error;
      },
    );
    // Changed meanwhile (a status write): again at once, with the new resourceVersion.
    if (!removed) return { requeueAfterMs: 100 };
    await ctx.recorder.record(pool, "Normal", "Drained", "every relay drained; releasing the pool");
    return undefined;
  }
  if (live.length === 0 || currentReplicas === 0) {
    await reportDeleting(ctx, pool, "waiting for the last relays to stop");
    if (currentReplicas !== 0) await io.apply(workload(pool, 0), plural(pool));
    return { requeueAfterMs: ROUND_MS };
  }

  // 2. One relay at a time, so the others are there to take its hand-off.
  const current = currentReplicas ?? live.length;
  const target = Math.max(current - 1, 0);
  const victims = podsToRemove(pool.spec.workload, pods, current, target);
  const leaving = new Set(victims.map((pod) => pod.metadata?.name));
  // Already out of DNS since removedAt: the drain need not wait out another TTL.
  const started = new Date(removedAt).toISOString();
  for (const victim of victims) {
    const annotations = victim.metadata?.annotations ?? {};
    if (annotations[DRAIN_STARTED_ANNOTATION] || !victim.metadata) continue;
    await ctx.client.mergePatch({ apiVersion: "v1", plural: "pods", namespace }, victim.metadata.name ?? "", {
      metadata: { annotations: { [DRAIN_STARTED_ANNOTATION]: started } },
    });
    victim.metadata.annotations = { ...annotations, [DRAIN_STARTED_ANNOTATION]: started };
  }
  const stayers = live.filter((pod) => isServing(pod) && !leaving.has(pod.metadata?.name));
  const progress = await drainVictims(ctx, pool, victims, apiToken, stayers);
  for (const { pod, queued } of progress.stranded)
    if (stayers.length === 0)
      await ctx.recorder.record(
        pool,
        "Warning",
        "MailLeftBehind",
        `pool deleted with ${queued ?? "an unknown number of"} messages still queued on relay ${pod}, with no relay left to hand them to: they stay on ${spoolVolumeOf(pool, pod)}`,
      );
  if (progress.done) {
    await io.apply(workload(pool, target), plural(pool));
    await ctx.recorder.record(pool, "Normal", "Scaled", `replicas ${current} → ${target} (deleting)`);
  }
  await reportDeleting(
    ctx,
    pool,
    progress.done ? `${target} relays left to drain` : `draining ${progress.waiting.join(", ")}`,
  );
  return { requeueAfterMs: ROUND_MS };
}

const plural = (pool: RelayPool) => (pool.spec.workload === "StatefulSet" ? "statefulsets" : "deployments");
