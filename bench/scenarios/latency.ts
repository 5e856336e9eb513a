/**
 * Latency: a paced client offers 10 KB HTML messages (full mode: tracking and
 * RSA-2048 DKIM) at 25%, 50% and 90% of the peak the throughput runs measured;
 * a timing sink matches each arrival to its send by X-Bench-Id. Latency is
 * from the moment the client wrote the final "." to the moment the sink read
 * the copy's final ".", both on this machine's clock.
 */
import { join } from "node:path";
import { makeMessage } from "../lib/messages.js";
import { sleep } from "../lib/proc.js";
import { benchAccount, startRelayProcess } from "../lib/relay-process.js";
import { SmtpPool, sendPaced } from "../lib/smtp-client.js";
import { type Percentiles, percentiles } from "../lib/stats.js";
import { startTimingSink } from "../lib/timing-sink.js";

export interface LatencyRow {
  loadPercent: number;
  offeredPerSecond: number;
  achievedPerSecond: number;
  messages: number;
  lost: number;
  failed: number;
  /** Milliseconds, end of DATA to arrival. */
  latency: Percentiles;
}

export interface LatencyOptions {
  dir: string;
  peakPerSecond: number;
  secondsPerLevel: number;
  levels: number[];
  log: (line: string) => void;
}

export async function runLatency(options: LatencyOptions): Promise<LatencyRow[]> {
  const arrivals = new Map<string, number>();
  const sink = await startTimingSink({
    onArrival: (arrival) => {
      if (arrival.benchId) arrivals.set(arrival.benchId, arrival.at);
    },
  });
  const relay = await startRelayProcess({
    name: "latency",
    mode: "full",
    dir: join(options.dir, "latency"),
    routes: {
      default: {
        senders: [{ name: "sink", host: "127.0.0.1", port: sink.port, tls: "none", maxConnections: 50 }],
      },
    },
    accounts: [benchAccount("bench", "bench.test")],
  });
  const pool = new SmtpPool(relay.smtpPort, 50);
  const rows: LatencyRow[] = [];
  try {
    await pool.open();
    // Warm-up (JIT, key import) outside the measured levels.
    await sendPaced(pool, 200, 100, (i) => ({
      from: "app@bench.test",
      to: [`warm${i}@sink.test`],
      body: makeMessage("html10k", "app@bench.test", `warm${i}@sink.test`, `warm-${i}`),
    }));
    await sleep(1000);
    for (const level of options.levels) {
      const rate = Math.max(1, (options.peakPerSecond * level) / 100);
      const count = Math.max(20, Math.round(rate * options.secondsPerLevel));
      const sent = new Map<string, number>();
      const bodies = Array.from({ length: 8 }, () => makeMessage("html10k", "app@bench.test", "x@sink.test"));
      const result = await sendPaced(
        pool,
        count,
        rate,
        (i) => {
          const id = `l${level}-${i}`;
          // Same bytes as the 10 KB message, with this send's X-Bench-Id right after the Subject.
          const body = Buffer.concat([
            Buffer.from(`X-Bench-Id: ${id}\r\n`),
            bodies[i % bodies.length] as Buffer,
          ]);
          return { from: "app@bench.test", to: [`r${i}@sink.test`], body };
        },
        (i, sendResult) => sent.set(`l${level}-${i}`, sendResult.endOfData),
      );
      const deadline = Date.now() + 60_000;
      while ([...sent.keys()].some((id) => !arrivals.has(id)) && Date.now() < deadline) await sleep(50);
      const latencies: number[] = [];
      let lost = 0;
      let last = 0;
      for (const [id, endOfData] of sent) {
        const at = arrivals.get(id);
        if (at === undefined) lost++;
        else {
          latencies.push(at - endOfData);
          last = Math.max(last, at);
        }
      }
      const row: LatencyRow = {
        loadPercent: level,
        offeredPerSecond: rate,
        achievedPerSecond: count / result.seconds,
        messages: count,
        lost,
        failed: result.failed,
        latency: percentiles(latencies),
      };
      rows.push(row);
      options.log(
        `  latency at ${level}% (${rate.toFixed(0)}/s offered, ${row.achievedPerSecond.toFixed(0)}/s sent): p50 ${row.latency.p50} ms, p95 ${row.latency.p95} ms, p99 ${row.latency.p99} ms${lost ? `, ${lost} not arrived` : ""}${result.failed ? `, ${result.failed} refused: ${result.errors[0]}` : ""}`,
      );
      await sleep(1000);
    }
  } finally {
    pool.close();
    await relay.stop();
    await sink.close();
  }
  return rows;
}
