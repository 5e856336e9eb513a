/**
 * The end-to-end run as a timeline: what was sampled every quarter second
 * (relays ready and desired, A records, mail accepted and arrived, the queue
 * Prometheus saw) and the moments that matter (load, block, its report),
 * drawn as two stacked charts over one time axis. Pure.
 */
import { lineChart } from "../../bench/lib/svg.js";

export interface TimelineSample {
  /** Seconds since the sampler started. */
  t: number;
  readyReplicas: number;
  desiredReplicas: number;
  aRecords: number;
  /** The pool's Scaling condition status at that moment ("True", "False", or "" before any). */
  scaling: string;
  /** Cumulative counts. */
  accepted: number;
  arrived: number;
  /** Messages queued over all relays, from Prometheus (undefined before its first answer). */
  queued?: number;
}

export interface TimelineMark {
  t: number;
  label: string;
}

/** Per-second rates from a cumulative count, one point per whole second. */
export function ratePerSecond(
  samples: readonly TimelineSample[],
  count: (s: TimelineSample) => number,
): [number, number][] {
  const points: [number, number][] = [];
  const last = samples.at(-1);
  if (!last) return points;
  let cursor = 0;
  let previous = 0;
  for (let second = 1; second <= Math.floor(last.t); second++) {
    while (cursor + 1 < samples.length && (samples[cursor + 1] as TimelineSample).t <= second) cursor++;
    const now = count(samples[cursor] as TimelineSample);
    points.push([second, now - previous]);
    previous = now;
  }
  return points;
}

/** Seconds, rounded to a tenth (the sampler's resolution is a quarter second). */
const round = (t: number) => Math.round(t * 10) / 10;

export function timelineSvg(samples: readonly TimelineSample[], marks: readonly TimelineMark[]): string {
  const markers = marks.map((m) => ({ x: round(m.t), label: m.label }));
  const relays = lineChart(
    "Relays: the pool follows the load (end-to-end test)",
    "relays",
    "seconds",
    [
      { label: "desired replicas", points: samples.map((s) => [round(s.t), s.desiredReplicas]) },
      { label: "ready replicas", points: samples.map((s) => [round(s.t), s.readyReplicas]) },
      { label: "A records", points: samples.map((s) => [round(s.t), s.aRecords]), dashed: true },
    ],
    markers,
  );
  const mail = lineChart(
    "Mail: accepted and arrived per second, and the queue",
    "messages",
    "seconds",
    [
      { label: "accepted / s", points: ratePerSecond(samples, (s) => s.accepted) },
      { label: "arrived at ISPs / s", points: ratePerSecond(samples, (s) => s.arrived) },
      {
        label: "queued (Prometheus)",
        points: samples.filter((s) => s.queued !== undefined).map((s) => [round(s.t), s.queued as number]),
      },
    ],
    markers,
  );
  const height = (svg: string) => Number(/height="(\d+)"/.exec(svg)?.[1] ?? 0);
  const width = Number(/width="(\d+)"/.exec(relays)?.[1] ?? 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height(relays) + height(mail)}">`,
    relays.replace("<svg ", '<svg y="0" '),
    mail.replace("<svg ", `<svg y="${height(relays)}" `),
    "</svg>",
    "",
  ].join("\n");
}
