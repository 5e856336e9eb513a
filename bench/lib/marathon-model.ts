/**
 * The 2009 New York City Marathon alert load as a model: 42,000 runners in 3
 * waves of 14,000 an hour apart, finish times 2 to 6 hours (triangular, mode
 * 3 h 55), even pace, an alert at each of 10 checkpoints to each subscriber
 * (Poisson, mean 1.8 per runner, so 18 alerts per runner on average: about
 * 756,000 messages). Subscribers are spread over ISP domains. Pure and seeded,
 * so every run replays the same race.
 */

export const RUNNERS = 42_000;
export const WAVES = 3;
export const WAVE_GAP_SECONDS = 3600;
export const MEAN_SUBSCRIBERS = 1.8;
export const CHECKPOINTS: ReadonlyArray<{ name: string; km: number }> = [
  { name: "5K", km: 5 },
  { name: "10K", km: 10 },
  { name: "15K", km: 15 },
  { name: "20K", km: 20 },
  { name: "half", km: 21.0975 },
  { name: "25K", km: 25 },
  { name: "30K", km: 30 },
  { name: "35K", km: 35 },
  { name: "40K", km: 40 },
  { name: "finish", km: 42.195 },
];
/** ISP domains of subscribers and their shares; the first is the one that blocks mid-race. */
export const ISP_DOMAINS: ReadonlyArray<{ domain: string; share: number }> = [
  { domain: "aol.example", share: 0.15 },
  { domain: "gmail.example", share: 0.3 },
  { domain: "yahoo.example", share: 0.25 },
  { domain: "hotmail.example", share: 0.15 },
  { domain: "verizon.example", share: 0.1 },
  { domain: "other.example", share: 0.05 },
];

export interface Alert {
  /** Seconds after the first wave's start (race time, uncompressed). */
  at: number;
  runner: number;
  checkpoint: string;
  recipient: string;
}

/** Mulberry32: small, fast, good enough for a load model. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function triangular(random: () => number, min: number, mode: number, max: number): number {
  const u = random();
  const cut = (mode - min) / (max - min);
  return u < cut
    ? min + Math.sqrt(u * (max - min) * (mode - min))
    : max - Math.sqrt((1 - u) * (max - min) * (max - mode));
}

function poisson(random: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

function pickDomain(random: () => number): string {
  let u = random();
  for (const isp of ISP_DOMAINS) {
    if (u < isp.share) return isp.domain;
    u -= isp.share;
  }
  return ISP_DOMAINS[ISP_DOMAINS.length - 1]!.domain;
}

/**
 * Every alert of the race, sorted by time, for the runners kept by `sample`
 * (a fraction in (0, 1]: each runner is kept with that probability, so the
 * shape of the race is the same at any scale).
 */
export function raceAlerts(sample = 1, seed = 2009): Alert[] {
  const random = seededRandom(seed);
  const alerts: Alert[] = [];
  for (let runner = 0; runner < RUNNERS; runner++) {
    // Draw everything for every runner so the kept runners do not depend on `sample`.
    const keep = random() < sample;
    const start = Math.floor((runner * WAVES) / RUNNERS) * WAVE_GAP_SECONDS;
    const duration = triangular(random, 2 * 3600, 3.92 * 3600, 6 * 3600);
    const subscribers = poisson(random, MEAN_SUBSCRIBERS);
    const recipients = Array.from(
      { length: subscribers },
      (_, s) => `fan${runner}-${s}@${pickDomain(random)}`,
    );
    if (!keep) continue;
    for (const checkpoint of CHECKPOINTS) {
      const at = start + (duration * checkpoint.km) / 42.195;
      for (const recipient of recipients) alerts.push({ at, runner, checkpoint: checkpoint.name, recipient });
    }
  }
  return alerts.sort((a, b) => a.at - b.at);
}

/** Alerts per second in `windowSeconds` buckets of race time. */
export function ratePerWindow(alerts: readonly Alert[], windowSeconds: number): number[] {
  const last = alerts[alerts.length - 1]?.at ?? 0;
  const buckets = new Array<number>(Math.floor(last / windowSeconds) + 1).fill(0);
  for (const alert of alerts) {
    const index = Math.floor(alert.at / windowSeconds);
    buckets[index] = (buckets[index] ?? 0) + 1;
  }
  return buckets.map((count) => count / windowSeconds);
}

export interface RaceShape {
  alerts: number;
  spanSeconds: number;
  peakPerSecond: number;
  peakAtSeconds: number;
}

export function raceShape(alerts: readonly Alert[], windowSeconds = 300): RaceShape {
  const rates = ratePerWindow(alerts, windowSeconds);
  let peakIndex = 0;
  rates.forEach((rate, i) => {
    if (rate > (rates[peakIndex] ?? 0)) peakIndex = i;
  });
  return {
    alerts: alerts.length,
    spanSeconds: alerts[alerts.length - 1]?.at ?? 0,
    peakPerSecond: rates[peakIndex] ?? 0,
    peakAtSeconds: (peakIndex + 0.5) * windowSeconds,
  };
}
