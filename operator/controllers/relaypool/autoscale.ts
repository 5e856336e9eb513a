/**
 * The I/O around decideReplicas(): reads the pool's metric and keeps each
 * pool's recent recommendations, as the HPA controller does. The history is
 * memory only: after a restart or a leader change the stabilization windows
 * start empty, which can only make the next decision less eager to shrink
 * (a scale-down needs a full window of low recommendations again).
 */
import type { RelayPool } from "../../api/relaypool.js";
import type { PodView } from "../../specs/endpoints.js";
import { isServing } from "../../specs/endpoints.js";
import { decideReplicas, type Recommendation, type ScaleDecision } from "../../specs/scaling.js";
import { type ControllerContext, errorMessage } from "../context.js";
import {
  ACCEPTED_METRIC,
  type CounterSample,
  counterRate,
  fetchText,
  promQuery,
  QUEUE_METRIC,
  queryPrometheus,
  sumSamples,
} from "./metric-source.js";

export class Autoscaler {
  private readonly history = new Map<string, Recommendation[]>();
  /** Last counter sample per pod, for acceptRate from scraped /metrics. */
  private readonly counters = new Map<string, CounterSample>();
  lastError: string | undefined;

  constructor(private readonly ctx: ControllerContext) {}

  forget(poolKey: string): void {
    this.history.delete(poolKey);
  }

  async decide(pool: RelayPool, currentReplicas: number, pods: readonly PodView[]): Promise<ScaleDecision> {
    const key = `${pool.metadata.namespace}/${pool.metadata.name}`;
    const autoscaling = pool.spec.autoscaling;
    if (!autoscaling) throw new Error("decide() needs spec.autoscaling");
    let total: number | undefined;
    try {
      total = await this.readMetric(pool, pods);
      this.lastError = total === undefined ? "no samples of the metric yet" : undefined;
    } catch (error) {
      this.lastError = errorMessage(error);
      this.ctx.logger.warn({ err: error, pool: key }, "could not read metrics");
    }
    const decision = decideReplicas({
      autoscaling,
      currentReplicas,
      metricTotal: total,
      now: this.ctx.now(),
      history: this.history.get(key) ?? [],
    });
    this.history.set(key, decision.history);
    return decision;
  }

  private async readMetric(pool: RelayPool, pods: readonly PodView[]): Promise<number | undefined> {
    const autoscaling = pool.spec.autoscaling;
    if (!autoscaling) return undefined;
    if (autoscaling.prometheusUrl)
      return queryPrometheus(
        autoscaling.prometheusUrl,
        promQuery(pool, autoscaling.metric),
        this.ctx.fetchTimeoutMs,
      );
    // Every running relay counts, draining ones too: their queue is still to be delivered.
    const running = pods.filter((pod) => pod.status?.phase === "Running" && !pod.metadata?.deletionTimestamp);
    const metricName = autoscaling.metric === "queue" ? QUEUE_METRIC : ACCEPTED_METRIC;
    const values = await Promise.all(
      running.map(async (pod) => {
        const address = this.ctx.relayAddress(pod);
        if (!address) return undefined;
        const text = await fetchText(address.metrics, this.ctx.fetchTimeoutMs).catch(() => undefined);
        if (text === undefined) return isServing(pod) ? Number.NaN : undefined;
        const value = sumSamples(text, metricName) ?? 0;
        if (autoscaling.metric === "queue") return value;
        const uid = pod.metadata?.uid ?? "";
        const sample = { value, at: this.ctx.now() };
        const rate = counterRate(this.counters.get(uid), sample);
        this.counters.set(uid, sample);
        return rate;
      }),
    );
    // A serving relay that cannot be scraped makes the total unknown: better to hold than to guess low.
    if (values.some((v) => Number.isNaN(v))) throw new Error("a ready relay's /metrics could not be read");
    const known = values.filter((v): v is number => v !== undefined);
    if (known.length === 0) return undefined;
    return known.reduce((a, b) => a + b, 0);
  }
}
