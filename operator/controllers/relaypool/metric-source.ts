/**
 * Reading the relays' metrics: from Prometheus (spec.autoscaling.prometheusUrl)
 * or, when none is given, by scraping each relay's /metrics. The text parsing
 * and the rate arithmetic are pure; fetching is a thin shell.
 */
import type { Autoscaling, RelayPool } from "../../api/relaypool.js";
import { names } from "../../specs/labels.js";

export const QUEUE_METRIC = "relayfleet_queue_messages";
export const ACCEPTED_METRIC = "relayfleet_messages_accepted_total";

/**
 * Sum of every sample of `metric` in Prometheus text exposition; undefined when it is absent.
 * By hand: prom-client writes the format but does not parse it, and one metric's sum needs no parser.
 */
export function sumSamples(text: string, metric: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    const valueText = rest[0] === "{" ? rest.slice(rest.lastIndexOf("}") + 1) : rest;
    const value = Number(valueText.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export interface CounterSample {
  value: number;
  at: number;
}

/** Per-second increase between two samples of a counter; a reset (restart) counts from zero. */
export function counterRate(previous: CounterSample | undefined, current: CounterSample): number | undefined {
  if (!previous || current.at <= previous.at) return undefined;
  const increase = current.value >= previous.value ? current.value - previous.value : current.value;
  return increase / ((current.at - previous.at) / 1000);
}

/** The PromQL for a pool's metric (series labelled by the ServiceMonitor: namespace, service). */
export function promQuery(pool: RelayPool, metric: Autoscaling["metric"]): string {
  const selector = `namespace="${pool.metadata.namespace}",service="${names(pool).relaysService}"`;
  return metric === "queue"
    ? `sum(${QUEUE_METRIC}{${selector}})`
    : `sum(rate(${ACCEPTED_METRIC}{${selector}}[1m]))`;
}

export async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.text();
}

/** An instant query; undefined when Prometheus has no series for it. */
export async function queryPrometheus(
  baseUrl: string,
  query: string,
  timeoutMs: number,
): Promise<number | undefined> {
  const url = `${baseUrl.replace(/\/$/, "")}/api/v1/query?query=${encodeURIComponent(query)}`;
  const body = JSON.parse(await fetchText(url, timeoutMs)) as {
    status: string;
    data?: { result?: { value?: [number, string] }[] };
  };
  if (body.status !== "success") throw new Error(`Prometheus answered ${body.status} for ${query}`);
  const first = body.data?.result?.[0]?.value?.[1];
  return first === undefined ? undefined : Number(first);
}
