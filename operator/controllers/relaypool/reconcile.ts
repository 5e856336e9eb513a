/**
 * RelayPool reconcile, level-triggered: read the pool and the pods as they
 * are now, compute every desired object with the pure builders, apply them
 * server-side under one field manager, then write status. It reads top to
 * bottom: replicas → drain → children → DNS → status. NotFound is done,
 * Conflict is a requeue, anything else fails the round (backoff) after an
 * Event and a Degraded condition say what went wrong.
 */
import { randomBytes } from "node:crypto";
import { relaySettingsProblems } from "../../api/relay-settings.js";
import type { RelayPool } from "../../api/relaypool.js";
import { isConflict, isNotFound, KubeError, type KubeObject, type ResourceRef } from "../../kube/client.js";
import { setConditions } from "../../specs/conditions.js";
import {
  apiTokenRef,
  apiTokenSecret,
  configMap,
  trackingSecret,
  trackingSecretRef,
} from "../../specs/config.js";
import {
  isServing,
  type PodView,
  podsToRemove,
  publishedEndpoints,
  type ServiceView,
} from "../../specs/endpoints.js";
import { DRAIN_FINALIZER, DRAINED_ANNOTATION, names, selectorString } from "../../specs/labels.js";
import {
  dnsEndpoint,
  podDisruptionBudget,
  relaysService,
  serviceMonitor,
  smtpService,
  trackingService,
} from "../../specs/network.js";
import type { ScaleDecision } from "../../specs/scaling.js";
import { workload } from "../../specs/workload.js";
import {
  type ControllerContext,
  errorMessage,
  RELAY_POOLS,
  readSecret,
  sameJson,
  splitKey,
} from "../context.js";
import type { Autoscaler } from "./autoscale.js";
import { addDrainFinalizer, drainForDeletion, hasDrainFinalizer } from "./delete.js";
import { drainVictims, restartCancelledDrains } from "./drain.js";
import { type Observed, poolStatus, type TlsState } from "./status.js";

/** The keys of a kubernetes.io/tls Secret (what cert-manager writes). */
const TLS_KEYS = ["tls.crt", "tls.key"] as const;
/** A missing Secret is usually being made right now (cert-manager): look again soon. */
const SECRET_RETRY_MS = 10_000;

type Workload = KubeObject & {
  spec?: { replicas?: number };
  status?: { replicas?: number; readyReplicas?: number };
};

const ref = (apiVersion: string, plural: string, namespace: string): ResourceRef => ({
  apiVersion,
  plural,
  namespace,
});

export interface PoolReconciler {
  reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined>;
}

export function poolReconciler(ctx: ControllerContext, autoscaler: Autoscaler): PoolReconciler {
  const served = new Map<string, { value: boolean; at: number }>();
  /** Optional CRDs (DNSEndpoint, ServiceMonitor) are looked up at most every 30 s. */
  const serves = async (apiVersion: string, plural: string) => {
    const key = `${apiVersion}/${plural}`;
    const cached = served.get(key);
    if (cached && ctx.now() - cached.at < 30_000) return cached.value;
    const value = await ctx.client.serves(apiVersion, plural);
    served.set(key, { value, at: ctx.now() });
    return value;
  };
  const apply = (object: KubeObject, plural: string) => {
    const [group, version] = (object.apiVersion ?? "").split("/");
    const apiVersion = version === undefined ? (group as string) : `${group}/${version}`;
    return ctx.client.apply(
      ref(apiVersion, plural, object.metadata?.namespace ?? ""),
      object,
      ctx.fieldManager,
    );
  };

  /**
   * A Secret the pool needs, made once and never rewritten: a new admin token would restart every
   * relay, a new tracking key would break every link already sent. A Secret the user named must
   * hold the key already.
   */
  async function ensureSecret(
    pool: RelayPool,
    secretRef: { name: string; key: string },
    userNamed: boolean,
    make: (value: string) => KubeObject,
    bytes: number,
  ): Promise<string> {
    const existing = (await readSecret(ctx, pool.metadata.namespace, secretRef.name))?.get(secretRef.key);
    if (existing) return existing;
    if (userNamed) throw new Error(`secret ${secretRef.name} has no key ${secretRef.key}`);
    const value = randomBytes(bytes).toString("base64url");
    await ctx.client.create(ref("v1", "secrets", pool.metadata.namespace), make(value));
    return value;
  }

  const ensureApiToken = (pool: RelayPool) =>
    ensureSecret(
      pool,
      apiTokenRef(pool),
      pool.spec.apiTokenSecretRef !== undefined,
      (token) => apiTokenSecret(pool, token),
      24,
    );
  const ensureTrackingSecret = (pool: RelayPool) =>
    ensureSecret(
      pool,
      trackingSecretRef(pool),
      pool.spec.trackingSecretRef !== undefined,
      (secret) => trackingSecret(pool, secret),
      32,
    );

  async function desiredReplicas(
    pool: RelayPool,
    current: number | undefined,
    pods: PodView[],
  ): Promise<{ desired: number; decision?: ScaleDecision; metricsError?: string }> {
    const autoscaling = pool.spec.autoscaling;
    if (!autoscaling) return { desired: pool.spec.replicas };
    const decision = await autoscaler.decide(pool, current ?? autoscaling.minReplicas, pods);
    return {
      desired: decision.desired,
      decision,
      ...(autoscaler.lastError ? { metricsError: autoscaler.lastError } : {}),
    };
  }

  /** The certificate Secret: named, present, and holding both keys; a message naming what is wrong otherwise. */
  async function tlsState(pool: RelayPool): Promise<TlsState> {
    const secretName = pool.spec.tls?.secretName;
    if (!secretName) return { state: "absent" };
    const secret = await readSecret(ctx, pool.metadata.namespace, secretName);
    if (!secret) return { state: "unusable", message: `TLS secret ${secretName} not found` };
    const missing = TLS_KEYS.filter((key) => !secret.get(key));
    if (missing.length > 0)
      return { state: "unusable", message: `TLS secret ${secretName} has no ${missing.join(" or ")}` };
    return { state: "ready" };
  }

  /** spec.relay values the CRD schema could not check: refused before any relay sees them. */
  async function refuseRelaySettings(pool: RelayPool & KubeObject, problems: string[]): Promise<void> {
    const message = `spec.relay refused, nothing changed: ${problems.join("; ")}`;
    await ctx.recorder.record(pool, "Warning", "InvalidRelaySettings", message);
    const conditions = setConditions(
      pool.status?.conditions,
      [{ type: "Degraded", status: "True", reason: "InvalidRelaySettings", message }],
      pool.metadata.generation,
      new Date(ctx.now()),
    );
    if (!sameJson(conditions, pool.status?.conditions ?? []))
      await ctx.client.mergePatch(
        { ...RELAY_POOLS, namespace: pool.metadata.namespace },
        pool.metadata.name,
        { status: { conditions } },
        "status",
      );
  }

  async function reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const { namespace, name } = splitKey(key);
    const pool = await ctx.client.find<RelayPool & KubeObject>({ ...RELAY_POOLS, namespace }, name);
    if (!pool || (pool.metadata.deletionTimestamp && !hasDrainFinalizer(pool))) {
      // Everything it made carries its ownerReference: the garbage collector removes it.
      autoscaler.forget(key);
      ctx.metrics.desiredReplicas.remove({ namespace, pool: name });
      return undefined;
    }
    const kind = pool.spec.workload;
    const workloadRef = ref("apps/v1", kind === "StatefulSet" ? "statefulsets" : "deployments", namespace);
    const otherRef = ref("apps/v1", kind === "StatefulSet" ? "deployments" : "statefulsets", namespace);
    const current = await ctx.client.find<Workload>(workloadRef, names(pool).workload);
    const pods = (await ctx.client.list<PodView>(ref("v1", "pods", namespace), selectorString(pool))).items;
    if (pool.metadata.deletionTimestamp) {
      // The Secret is the pool's own and outlives it until the finalizer goes; never made anew here.
      const token = (await readSecret(ctx, namespace, apiTokenRef(pool).name))?.get(apiTokenRef(pool).key);
      return drainForDeletion(ctx, { apply, serves }, pool, token ?? "", pods, current?.spec?.replicas);
    }
    const problems: string[] = [];
    // From the first round on, so a deletion always drains first. Without the right to (an older
    // chart's RBAC) the pool still runs, and says its deletion will not drain.
    if (!hasDrainFinalizer(pool)) {
      const added = await addDrainFinalizer(ctx, pool).then(
        () => true,
        (error: unknown) => {
          // Someone changed the pool meanwhile: look again at once, with what they wrote.
          if (isConflict(error)) return false;
          if (!(error instanceof KubeError && error.code === 403)) throw error;
          problems.push(
            `cannot add the finalizer ${DRAIN_FINALIZER} (patch on relaypools is forbidden): deleting this pool will not drain it`,
          );
          return true;
        },
      );
      if (!added) return { requeueAfterMs: 100 };
    }
    const settingsProblems = relaySettingsProblems(pool.spec.relay);
    if (settingsProblems.length > 0) {
      await refuseRelaySettings(pool, settingsProblems);
      return undefined;
    }
    const token = await ensureApiToken(pool);
    await ensureTrackingSecret(pool);
    const tls = await tlsState(pool);

    // 1. How many relays, and drain the ones a scale-down removes before removing them.
    const currentReplicas = current?.spec?.replicas;
    const { desired, decision, metricsError } = await desiredReplicas(pool, currentReplicas, pods);
    ctx.metrics.desiredReplicas.set({ namespace, pool: name }, desired);
    const victims = currentReplicas === undefined ? [] : podsToRemove(kind, pods, currentReplicas, desired);
    const leaving = new Set(victims.map((pod) => pod.metadata?.name));
    let applied = desired;
    let draining: string[] = [];
    if (victims.length > 0) {
      const stayers = pods.filter((pod) => isServing(pod) && !leaving.has(pod.metadata?.name));
      const progress = await drainVictims(ctx, pool, victims, token, stayers);
      if (!progress.done) {
        applied = currentReplicas ?? desired;
        draining = progress.waiting;
      }
    }
    const restarted = await restartCancelledDrains(ctx, pods, victims);
    if (restarted.length > 0)
      await ctx.recorder.record(
        pool,
        "Normal",
        "Undrained",
        `scale-down called off; restarting ${restarted.join(", ")}`,
      );

    // 2. The children, all applied whole every time (server-side apply makes that cheap and idempotent).
    await apply(configMap(pool), "configmaps");
    await apply(workload(pool, applied), kind === "StatefulSet" ? "statefulsets" : "deployments");
    if (await ctx.client.delete(otherRef, names(pool).workload))
      await ctx.recorder.record(pool, "Normal", "WorkloadSwitched", `now a ${kind}`);
    const smtp = await apply(smtpService(pool), "services");
    await apply(trackingService(pool), "services");
    await apply(relaysService(pool), "services");
    await apply(podDisruptionBudget(pool), "poddisruptionbudgets");
    if (await serves("monitoring.coreos.com/v1", "servicemonitors"))
      await apply(serviceMonitor(pool), "servicemonitors");
    if (currentReplicas !== undefined && applied !== currentReplicas)
      await ctx.recorder.record(pool, "Normal", "Scaled", `replicas ${currentReplicas} → ${applied}`);

    // 3. DNS: the ready relays only.
    // Relays chosen to leave are out of the records from the first round on (see drain.ts).
    const published = publishedEndpoints(
      pool,
      pods.filter((pod) => !leaving.has(pod.metadata?.name)),
      smtp as ServiceView,
    );
    const endpoints = published.addresses;
    if (published.problem) problems.push(published.problem);
    const dns = dnsEndpoint(pool, endpoints);
    const dnsRef = ref("externaldns.k8s.io/v1alpha1", "dnsendpoints", namespace);
    if (dns && (await serves("externaldns.k8s.io/v1alpha1", "dnsendpoints"))) {
      const before = await ctx.client.find<KubeObject & { spec?: { endpoints?: { targets?: string[] }[] } }>(
        dnsRef,
        names(pool).dns,
      );
      await apply(dns, "dnsendpoints");
      const was = (before?.spec?.endpoints ?? []).flatMap((e) => e.targets ?? []).sort();
      if (JSON.stringify(was) !== JSON.stringify(endpoints))
        await ctx.recorder.record(
          pool,
          "Normal",
          "DNSUpdated",
          `${pool.spec.hostname} → ${endpoints.join(", ") || "(no ready relay: record removed)"}`,
        );
    } else if (dns) problems.push("the DNSEndpoint CRD (externaldns.k8s.io) is not installed");
    else
      await ctx.client.delete(dnsRef, names(pool).dns).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });

    // 4. Status from what was seen.
    const workloadNow = await ctx.client.find<Workload>(workloadRef, names(pool).workload);
    const livePods = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
    const seen: Observed = {
      replicas: workloadNow?.status?.replicas ?? livePods.length,
      readyReplicas: pods.filter(isServing).length,
      desiredReplicas: desired,
      appliedReplicas: applied,
      endpoints,
      leaving: pods.filter(
        (pod) => pod.metadata?.deletionTimestamp || pod.metadata?.annotations?.[DRAINED_ANNOTATION],
      ).length,
      ...(decision ? { decision } : {}),
      ...(metricsError ? { metricsError } : {}),
      draining,
      problems,
      tls,
    };
    const status = poolStatus(pool, seen, new Date(ctx.now()));
    if (!sameJson(status, pool.status ?? {}))
      await ctx.client.apply(
        { ...RELAY_POOLS, namespace },
        { apiVersion: pool.apiVersion, kind: pool.kind, metadata: { name, namespace }, status },
        ctx.fieldManager,
        { subresource: "status" },
      );
    if (draining.length > 0) return { requeueAfterMs: 1_000 };
    if (tls.state === "unusable" || published.problem) return { requeueAfterMs: SECRET_RETRY_MS };
    if (pool.spec.autoscaling) return { requeueAfterMs: pool.spec.autoscaling.intervalSeconds * 1000 };
    return undefined;
  }

  return {
    async reconcile(key) {
      try {
        return await reconcile(key);
      } catch (error) {
        const { namespace, name } = splitKey(key);
        const pool = await ctx.client
          .find<RelayPool & KubeObject>({ ...RELAY_POOLS, namespace }, name)
          .catch(() => undefined);
        if (pool) {
          const message = `while reconciling: ${errorMessage(error)}`;
          await ctx.recorder.record(pool, "Warning", "ReconcileFailed", message);
          const conditions = setConditions(
            pool.status?.conditions,
            [{ type: "Degraded", status: "True", reason: "ReconcileFailed", message }],
            pool.metadata.generation,
            new Date(ctx.now()),
          );
          await ctx.client
            .mergePatch({ ...RELAY_POOLS, namespace }, name, { status: { conditions } }, "status")
            .catch(() => undefined);
        }
        throw error;
      }
    },
  };
}
