/**
 * How many relays a pool wants, by the HorizontalPodAutoscaler's algorithm:
 *   - the metric is a total over the pool (messages queued, or accepted per
 *     second); the raw recommendation is ceil(total / target);
 *   - within `tolerance` of the target per replica, the size stays;
 *   - scale-up takes the lowest recommendation of its stabilization window,
 *     scale-down the highest of its own, so a spike does not start a flap
 *     and a dip does not shed relays that will be needed a minute later;
 *   - the result is clamped to [minReplicas, maxReplicas].
 * Pure: the history of recommendations comes in and goes out.
 */
import type { Autoscaling } from "../api/relaypool.js";

export interface Recommendation {
  at: number;
  replicas: number;
}

export interface ScaleInput {
  autoscaling: Autoscaling;
  currentReplicas: number;
  /** The metric summed over the pool; undefined when it could not be read. */
  metricTotal: number | undefined;
  now: number;
  history: readonly Recommendation[];
}

export type ScaleReason =
  | "WithinTolerance"
  | "ScaleUp"
  | "ScaleDown"
  | "StabilizingUp"
  | "StabilizingDown"
  | "ClampedToMin"
  | "ClampedToMax"
  | "MetricsUnavailable";

export interface ScaleDecision {
  desired: number;
  /** What the metric alone says, before stabilization. */
  recommendation: number;
  /** Per replica, as compared with the target. */
  perReplica: number | undefined;
  reason: ScaleReason;
  history: Recommendation[];
}

const clamp = (value: number, min: number, max: number) => Math.min(Math.max(value, min), max);

export function rawRecommendation(autoscaling: Autoscaling, current: number, total: number): number {
  const { target, tolerance, minReplicas, maxReplicas } = autoscaling;
  const replicas = Math.max(current, 1);
  const ratio = total / replicas / target;
  const wanted = current > 0 && Math.abs(ratio - 1) <= tolerance ? current : Math.ceil(total / target);
  return clamp(wanted, minReplicas, maxReplicas);
}

export function decideReplicas(input: ScaleInput): ScaleDecision {
  const { autoscaling, currentReplicas: current, metricTotal, now } = input;
  const { minReplicas, maxReplicas } = autoscaling;
  const upWindow = autoscaling.scaleUpStabilizationSeconds * 1000;
  const downWindow = autoscaling.scaleDownStabilizationSeconds * 1000;
  const keepFor = Math.max(upWindow, downWindow);
  const kept = input.history.filter((r) => now - r.at <= keepFor);
  if (metricTotal === undefined || !Number.isFinite(metricTotal)) {
    // Without metrics, hold the size (inside the bounds): never scale on missing data.
    const desired = clamp(current, minReplicas, maxReplicas);
    return {
      desired,
      recommendation: desired,
      perReplica: undefined,
      reason: "MetricsUnavailable",
      history: kept,
    };
  }
  const recommendation = rawRecommendation(autoscaling, current, metricTotal);
  const history = [...kept, { at: now, replicas: recommendation }];
  const upCandidates = history.filter((r) => now - r.at <= upWindow).map((r) => r.replicas);
  const downCandidates = history.filter((r) => now - r.at <= downWindow).map((r) => r.replicas);
  const upLimit = Math.min(...upCandidates);
  const downLimit = Math.max(...downCandidates);
  let desired = current;
  let reason: ScaleReason = "WithinTolerance";
  if (current < minReplicas) {
    desired = minReplicas;
    reason = "ClampedToMin";
  } else if (current > maxReplicas) {
    desired = maxReplicas;
    reason = "ClampedToMax";
  } else if (upLimit > current) {
    desired = upLimit;
    reason = "ScaleUp";
  } else if (downLimit < current) {
    desired = downLimit;
    reason = "ScaleDown";
  } else if (recommendation > current) reason = "StabilizingUp";
  else if (recommendation < current) reason = "StabilizingDown";
  const perReplica = metricTotal / Math.max(current, 1);
  return { desired: clamp(desired, minReplicas, maxReplicas), recommendation, perReplica, reason, history };
}
