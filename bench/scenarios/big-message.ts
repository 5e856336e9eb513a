/**
 * Big message: one 100 MB message (a base64 attachment) through the relay to
 * a timing sink. RSS growth = the relay process's peak RSS during the relay
 * (VmHWM after a clear_refs reset, and 20 ms samples of VmRSS) minus its RSS
 * just before; time = first byte sent to the copy's last byte at the sink.
 */
import { join } from "node:path";
import { bigMessage, makeMessage } from "../lib/messages.js";
import { peakRssBytes, resetPeakRss, rssBytes, sleep } from "../lib/proc.js";
import { benchAccount, startRelayProcess } from "../lib/relay-process.js";
import { SmtpSession } from "../lib/smtp-client.js";
import { type Spread, spread } from "../lib/stats.js";
import { startTimingSink } from "../lib/timing-sink.js";

export interface BigMessageRow {
  mode: "full" | "passthrough";
  messageBytes: number;
  rssGrowthMiB: Spread;
  baselineRssMiB: Spread;
  intakeSeconds: Spread;
  totalSeconds: Spread;
  arrivedBytes: number;
}

export interface BigMessageOptions {
  dir: string;
  messageBytes: number;
  runs: number;
  log: (line: string) => void;
}

const MiB = 1024 * 1024;

export async function runBigMessage(options: BigMessageOptions): Promise<BigMessageRow[]> {
  const rows: BigMessageRow[] = [];
  for (const mode of ["full", "passthrough"] as const) {
    const arrivals = new Map<string, { at: number; bytes: number }>();
    const sink = await startTimingSink({
      onArrival: (arrival) => {
        if (arrival.benchId) arrivals.set(arrival.benchId, { at: arrival.at, bytes: arrival.bytes });
      },
    });
    const relay = await startRelayProcess({
      name: `big-${mode}`,
      mode,
      dir: join(options.dir, `big-${mode}`),
      maxMessageBytes: options.messageBytes + 10 * MiB,
      routes: {
        default: { senders: [{ name: "sink", host: "127.0.0.1", port: sink.port, tls: "none" }] },
      },
      accounts: [benchAccount("bench", "bench.test")],
    });
    const growth: number[] = [];
    const baselines: number[] = [];
    const intake: number[] = [];
    const total: number[] = [];
    let arrivedBytes = 0;
    try {
      const session = await SmtpSession.open(relay.smtpPort);
      // Warm the relay's paths with small messages so the baseline is a running relay, not a cold one.
      for (let i = 0; i < 20; i++) {
        await session.send({
          from: "app@bench.test",
          to: ["w@sink.test"],
          body: makeMessage("attach100k", "app@bench.test", "w@sink.test"),
        });
      }
      for (let run = 0; run < options.runs; run++) {
        await sleep(1500);
        const baseline = rssBytes(relay.pid) ?? 0;
        const peakResetWorked = resetPeakRss(relay.pid);
        let sampledPeak = baseline;
        const sampler = setInterval(() => {
          sampledPeak = Math.max(sampledPeak, rssBytes(relay.pid) ?? 0);
        }, 20);
        const id = `big-${mode}-${run}`;
        const started = performance.now();
        const startedAt = Date.now();
        const result = await session.send({
          from: "app@bench.test",
          to: ["big@sink.test"],
          body: bigMessage("app@bench.test", "big@sink.test", options.messageBytes, id),
        });
        const deadline = Date.now() + 300_000;
        while (!arrivals.has(id) && Date.now() < deadline) await sleep(20);
        clearInterval(sampler);
        const arrival = arrivals.get(id);
        const peak = Math.max(sampledPeak, peakResetWorked ? (peakRssBytes(relay.pid) ?? 0) : 0);
        baselines.push(baseline / MiB);
        growth.push((peak - baseline) / MiB);
        intake.push((result.accepted - startedAt) / 1000);
        total.push(arrival ? (arrival.at - startedAt) / 1000 : Number.NaN);
        arrivedBytes = arrival?.bytes ?? 0;
        options.log(
          `  100 MB ${mode}: RSS ${(baseline / MiB).toFixed(0)} MiB + ${((peak - baseline) / MiB).toFixed(1)} MiB, accepted after ${(((result.accepted - startedAt) / 1000) as number).toFixed(1)} s, at the sink after ${arrival ? ((arrival.at - startedAt) / 1000).toFixed(1) : "never"} s (${((performance.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
      session.close();
    } finally {
      await relay.stop();
      await sink.close();
    }
    rows.push({
      mode,
      messageBytes: options.messageBytes,
      rssGrowthMiB: spread(growth),
      baselineRssMiB: spread(baselines),
      intakeSeconds: spread(intake),
      totalSeconds: spread(total),
      arrivedBytes,
    });
  }
  return rows;
}
