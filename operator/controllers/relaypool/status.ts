/** RelayPool status and conditions from what reconcile saw. Pure. */
import type { RelayPool, RelayPoolStatus } from "../../api/relaypool.js";
import type { ConditionInput } from "../../specs/conditions.js";
import { setConditions } from "../../specs/conditions.js";
import { selectorString } from "../../specs/labels.js";
import type { ScaleDecision } from "../../specs/scaling.js";

/** spec.tls: absent (the relays offer no AUTH off loopback), ready, or named but unusable. */
export type TlsState = { state: "absent" } | { state: "ready" } | { state: "unusable"; message: string };

export interface Observed {
  /** What the workload runs now (its status.replicas, else pods counted). */
  replicas: number;
  readyReplicas: number;
  desiredReplicas: number;
  /** Replicas written to the workload this time. */
  appliedReplicas: number;
  endpoints: string[];
  /** Pods on their way out that have not gone yet: drained for a scale-down, or being deleted. */
  leaving: number;
  decision?: ScaleDecision;
  metricsError?: string;
  draining: string[];
  problems: string[];
  tls: TlsState;
}

/**
 * Degraded: what went wrong this round first (several: ReconcileProblems, all named), then a TLS
 * Secret that cannot be mounted, then no TLS at all, which is a working pool that cannot take
 * authenticated submission: worth saying on the pool, not only in a relay's log.
 */
function degradedCondition(seen: Observed): ConditionInput {
  const problems = [...seen.problems, ...(seen.metricsError ? [`metrics: ${seen.metricsError}`] : [])];
  if (seen.tls.state === "unusable" && problems.length === 0)
    return { type: "Degraded", status: "True", reason: "TLSSecretUnusable", message: seen.tls.message };
  if (seen.tls.state === "unusable") problems.push(seen.tls.message);
  if (problems.length > 0)
    return { type: "Degraded", status: "True", reason: "ReconcileProblems", message: problems.join("; ") };
  if (seen.tls.state === "absent")
    return {
      type: "Degraded",
      status: "True",
      reason: "NoTLS",
      message:
        "no spec.tls: the relays offer no STARTTLS and no AUTH (AUTH needs TLS off loopback); only clients allowed by IP can relay",
    };
  return { type: "Degraded", status: "False", reason: "AsExpected", message: "everything applied" };
}

export function poolConditions(pool: RelayPool, seen: Observed): ConditionInput[] {
  const ready: ConditionInput =
    seen.readyReplicas >= seen.desiredReplicas && seen.desiredReplicas > 0
      ? {
          type: "Ready",
          status: "True",
          reason: "AllRelaysReady",
          message: `${seen.readyReplicas} relays take mail`,
        }
      : seen.readyReplicas > 0
        ? {
            type: "Ready",
            status: "False",
            reason: "RelaysNotReady",
            message: `${seen.readyReplicas} of ${seen.desiredReplicas} relays ready`,
          }
        : { type: "Ready", status: "False", reason: "NoRelayReady", message: "no relay takes mail yet" };
  const scaling = scalingCondition(pool, seen);
  return [ready, scaling, degradedCondition(seen)];
}

/**
 * Scaling is True from the moment the pool's size is to change until the new
 * size holds: while relays drain, while the workload's replicas differ from
 * the desired count, and after that while new relays are not yet ready
 * (scaling up) or removed ones still serve or have not yet exited (scaling
 * down). A scale
 * counts as under way when the desired count differs from the one last
 * reported or the previous status already said Scaling; a relay that fails
 * its readiness later, with the size unchanged, is Ready=False, not Scaling.
 */
export function scalingCondition(pool: RelayPool, seen: Observed): ConditionInput {
  const previous = pool.status;
  const wasScaling = previous?.conditions?.find((c) => c.type === "Scaling")?.status === "True";
  const sizeChanged =
    previous?.desiredReplicas !== undefined && previous.desiredReplicas !== seen.desiredReplicas;
  const underWay = wasScaling || sizeChanged;
  if (seen.draining.length > 0)
    return {
      type: "Scaling",
      status: "True",
      reason: "Draining",
      message: `draining ${seen.draining.join(", ")} before scaling to ${seen.desiredReplicas}`,
    };
  if (seen.replicas !== seen.desiredReplicas)
    return {
      type: "Scaling",
      status: "True",
      reason: seen.desiredReplicas > seen.replicas ? "ScalingUp" : "ScalingDown",
      message: `${seen.replicas} → ${seen.desiredReplicas} replicas`,
    };
  if (underWay && seen.readyReplicas < seen.desiredReplicas)
    return {
      type: "Scaling",
      status: "True",
      reason: "ScalingUp",
      message: `${seen.readyReplicas} of ${seen.desiredReplicas} relays ready`,
    };
  if (underWay && (seen.leaving > 0 || seen.readyReplicas > seen.desiredReplicas))
    return {
      type: "Scaling",
      status: "True",
      reason: "ScalingDown",
      message: `waiting for ${Math.max(seen.leaving, seen.readyReplicas - seen.desiredReplicas)} removed relay(s) to stop`,
    };
  return {
    type: "Scaling",
    status: "False",
    reason: seen.decision?.reason ?? (pool.spec.autoscaling ? "Stable" : "FixedReplicas"),
    message: seen.decision
      ? `recommended ${seen.decision.recommendation}, per replica ${seen.decision.perReplica?.toFixed(2) ?? "unknown"} (target ${pool.spec.autoscaling?.target})`
      : `spec.replicas is ${pool.spec.replicas}`,
  };
}

export function poolStatus(pool: RelayPool, seen: Observed, now: Date): RelayPoolStatus {
  const previous = pool.status ?? {};
  const scaled = previous.desiredReplicas !== undefined && previous.desiredReplicas !== seen.desiredReplicas;
  const lastScaleTime = scaled ? now.toISOString().replace(/\.\d{3}Z$/, "Z") : previous.lastScaleTime;
  return {
    replicas: seen.replicas,
    readyReplicas: seen.readyReplicas,
    desiredReplicas: seen.desiredReplicas,
    selector: selectorString(pool),
    endpoints: seen.endpoints,
    conditions: setConditions(previous.conditions, poolConditions(pool, seen), pool.metadata.generation, now),
    observedGeneration: pool.metadata.generation ?? 0,
    ...(lastScaleTime ? { lastScaleTime } : {}),
    ...(seen.decision?.perReplica !== undefined
      ? { currentMetricValue: Math.round(seen.decision.perReplica * 1000) / 1000 }
      : {}),
  };
}
