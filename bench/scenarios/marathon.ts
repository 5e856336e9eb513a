/**
 * The 2009 marathon replayed (bench/lib/marathon-model.ts) against one relay
 * in full mode with two outbound source IPs (127.0.0.2 first, 127.0.0.3 as
 * failover), time compressed to fit the budget and runners sampled so the
 * replay's peak is `peakPerSecond`. At the race's peak the sink starts
 * answering "blocked" to 127.0.0.2 for the first ISP domain. Each alert is
 * sent at its scheduled moment; its delay is from that moment to arrival.
 */
import { join } from "node:path";
import { ISP_DOMAINS, raceAlerts, raceShape } from "../lib/marathon-model.js";
import { alertMessage } from "../lib/messages.js";
import { sleep } from "../lib/proc.js";
import { benchAccount, startRelayProcess } from "../lib/relay-process.js";
import { SmtpPool } from "../lib/smtp-client.js";
import { type Percentiles, percentiles } from "../lib/stats.js";
import { startTimingSink } from "../lib/timing-sink.js";

export interface BacklogPoint {
  /** Seconds since the replay started (wall clock). */
  second: number;
  /** Alerts due so far that have not reached the sink. */
  backlog: number;
  /** Messages in the relay's spool (its queue gauge). */
  relayQueue: number;
  offered: number;
  arrived: number;
}

export interface MarathonResult {
  compression: number;
  sample: number;
  runnersKept: number;
  alerts: number;
  fullScaleAlerts: number;
  fullScalePeakPerSecond: number;
  fullScaleSpanSeconds: number;
  fullScalePeakAtSeconds: number;
  replayPeakPerSecond: number;
  replaySeconds: number;
  delivered: number;
  lost: number;
  /** Alerts the relay refused at SMTP time (not accepted, so not "lost", but not delivered either). */
  refusedAtIntake: number;
  /** Milliseconds from the alert's scheduled moment to arrival. */
  delay: Percentiles;
  blockedDomain: string;
  blockAtReplaySecond: number;
  /** Last RCPT from the blocked IP to the blocked domain, seconds after the block started. */
  blockedIpKeptSendingSeconds: number;
  refusedAttemptsAfterBlock: number;
  /** Seconds from the block to the first arrival of that domain's mail through the other IP. */
  firstRerouteSeconds: number;
  backlog: BacklogPoint[];
}

export interface MarathonOptions {
  dir: string;
  replaySeconds: number;
  peakPerSecond: number;
  log: (line: string) => void;
}

const BLOCKED_IP = "127.0.0.2";
const FAILOVER_IP = "127.0.0.3";

export async function runMarathon(options: MarathonOptions): Promise<MarathonResult> {
  const full = raceShape(raceAlerts(1), 300);
  const compression = full.spanSeconds / options.replaySeconds;
  const sample = Math.min(1, options.peakPerSecond / (full.peakPerSecond * compression));
  const alerts = raceAlerts(sample);
  const shape = raceShape(alerts, 300);
  const blockedDomain = ISP_DOMAINS[0]!.domain;
  const blockAtRace = full.peakAtSeconds;
  const blockAtReplay = blockAtRace / compression;
  options.log(
    `  marathon: ${alerts.length} alerts (runners sampled ${(sample * 100).toFixed(2)}%), time compressed ${compression.toFixed(0)}×, replay ${options.replaySeconds} s, block at ${blockAtReplay.toFixed(1)} s`,
  );

  let startedAt = 0;
  let blockStartedAt = Number.POSITIVE_INFINITY;
  let lastBlockedAttempt = Number.NaN;
  let refusedAttempts = 0;
  let firstReroute = Number.NaN;
  const arrivals = new Map<string, number>();
  const sink = await startTimingSink({
    onArrival: (arrival) => {
      if (!arrival.benchId) return;
      arrivals.set(arrival.benchId, arrival.at);
      if (
        Number.isNaN(firstReroute) &&
        arrival.at >= blockStartedAt &&
        arrival.remoteAddress === FAILOVER_IP &&
        arrival.recipients.some((r) => r.endsWith(`@${blockedDomain}`))
      )
        firstReroute = (arrival.at - blockStartedAt) / 1000;
    },
    refuseRcpt: (remote, recipient) =>
      remote === BLOCKED_IP && recipient.endsWith(`@${blockedDomain}`) && Date.now() >= blockStartedAt
        ? `554 5.7.1 Service unavailable; Client host [${BLOCKED_IP}] blocked using zen.spamhaus.example`
        : undefined,
    onRcpt: (attempt) => {
      if (attempt.refused) {
        refusedAttempts++;
        lastBlockedAttempt = attempt.at;
      }
    },
  });
  const sender = (name: string, ip: string) => ({
    name,
    host: "127.0.0.1",
    port: sink.port,
    localAddress: ip,
    tls: "none",
    maxConnections: 50,
  });
  const relay = await startRelayProcess({
    name: "marathon",
    mode: "full",
    dir: join(options.dir, "marathon"),
    routes: {
      default: {
        policy: "failover",
        senders: [sender("ip1", BLOCKED_IP), sender("ip2", FAILOVER_IP)],
        blocking: { holdSeconds: 3600 },
      },
    },
    accounts: [benchAccount("nyrr", "nyrr.example")],
  });
  const pool = new SmtpPool(relay.smtpPort, 50);
  const scheduled = new Map<string, number>();
  const accepted = new Set<string>();
  const backlog: BacklogPoint[] = [];
  let refusedAtIntake = 0;
  try {
    await pool.open();
    startedAt = Date.now();
    blockStartedAt = startedAt + blockAtReplay * 1000;
    const pending: Promise<void>[] = [];
    let next = 0;
    let offeredThisSecond = 0;
    let arrivedBefore = 0;
    let nextSample = startedAt + 1000;
    while (next < alerts.length || Date.now() < startedAt + options.replaySeconds * 1000) {
      const now = Date.now();
      const replayNow = (now - startedAt) / 1000;
      for (; next < alerts.length && alerts[next]!.at / compression <= replayNow; next++) {
        const alert = alerts[next]!;
        const id = `m${next}`;
        scheduled.set(id, startedAt + (alert.at / compression) * 1000);
        offeredThisSecond++;
        pending.push(
          pool
            .send({
              from: "alerts@nyrr.example",
              to: [alert.recipient],
              body: alertMessage("alerts@nyrr.example", alert.recipient, id, alert.runner, alert.checkpoint),
            })
            .then(
              () => {
                accepted.add(id);
              },
              () => {
                refusedAtIntake++;
              },
            ),
        );
      }
      if (now >= nextSample) {
        nextSample += 1000;
        const relayQueue = await relay.metric("relayfleet_queue_messages").catch(() => Number.NaN);
        backlog.push({
          second: Math.round((now - startedAt) / 1000),
          backlog: scheduled.size - arrivals.size,
          relayQueue,
          offered: offeredThisSecond,
          arrived: arrivals.size - arrivedBefore,
        });
        offeredThisSecond = 0;
        arrivedBefore = arrivals.size;
      }
      await sleep(2);
    }
    await Promise.all(pending);
    const deadline = Date.now() + 60_000;
    while (arrivals.size < scheduled.size - refusedAtIntake && Date.now() < deadline) {
      await sleep(250);
      if (Date.now() >= nextSample) {
        nextSample += 1000;
        backlog.push({
          second: Math.round((Date.now() - startedAt) / 1000),
          backlog: scheduled.size - arrivals.size,
          relayQueue: await relay.metric("relayfleet_queue_messages").catch(() => Number.NaN),
          offered: 0,
          arrived: arrivals.size - arrivedBefore,
        });
        arrivedBefore = arrivals.size;
      }
    }
  } finally {
    pool.close();
    await relay.stop();
    await sink.close();
  }
  const delays: number[] = [];
  let lost = 0;
  for (const [id, at] of scheduled) {
    const arrived = arrivals.get(id);
    if (arrived !== undefined) delays.push(arrived - at);
    else if (accepted.has(id)) lost++; // accepted by the relay, never delivered
  }
  const result: MarathonResult = {
    compression,
    sample,
    runnersKept: new Set(alerts.map((a) => a.runner)).size,
    alerts: alerts.length,
    fullScaleAlerts: full.alerts,
    fullScalePeakPerSecond: full.peakPerSecond,
    fullScaleSpanSeconds: full.spanSeconds,
    fullScalePeakAtSeconds: full.peakAtSeconds,
    replayPeakPerSecond: shape.peakPerSecond * compression,
    replaySeconds: options.replaySeconds,
    delivered: arrivals.size,
    lost,
    refusedAtIntake,
    delay: percentiles(delays),
    blockedDomain,
    blockAtReplaySecond: blockAtReplay,
    blockedIpKeptSendingSeconds: Number.isNaN(lastBlockedAttempt)
      ? 0
      : (lastBlockedAttempt - blockStartedAt) / 1000,
    refusedAttemptsAfterBlock: refusedAttempts,
    firstRerouteSeconds: firstReroute,
    backlog,
  };
  options.log(
    `  marathon: delivered ${result.delivered}/${result.alerts}, lost ${lost}, delay p99 ${result.delay.p99} ms max ${result.delay.max} ms; blocked IP kept sending to ${blockedDomain} for ${result.blockedIpKeptSendingSeconds.toFixed(2)} s (${refusedAttempts} refused), first reroute after ${firstReroute.toFixed(2)} s`,
  );
  return result;
}
