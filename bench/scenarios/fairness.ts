/**
 * Fairness: account B sends one message a second, first alone (its idle
 * latency), then while account A pushes a burst through smtp-source (50
 * connections, as fast as it goes). B's p99 during the burst against B's p99
 * idle; both accounts in full mode, one relay, one sink.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeMessage } from "../lib/messages.js";
import { runSmtpSource, waitForCount } from "../lib/postfix.js";
import { sleep } from "../lib/proc.js";
import { benchAccount, startRelayProcess } from "../lib/relay-process.js";
import { SmtpSession } from "../lib/smtp-client.js";
import { type Percentiles, percentiles } from "../lib/stats.js";
import { startTimingSink } from "../lib/timing-sink.js";

export interface FairnessResult {
  burstMessages: number;
  burstSeconds: number;
  burstDeliveredPerSecond: number;
  burstDelivered: number;
  /** B's latency in ms, end of DATA to arrival. */
  bIdle: Percentiles;
  bDuringBurst: Percentiles;
  ratioP99: number;
}

export interface FairnessOptions {
  dir: string;
  burstMessages: number;
  idleSeconds: number;
  log: (line: string) => void;
}

/** B's trickle: one message a second on one connection until `stop()` says so. */
async function trickle(port: number, arrivals: Map<string, number>, tag: string, stop: () => boolean) {
  const session = await SmtpSession.open(port);
  const sent = new Map<string, number>();
  let i = 0;
  const started = Date.now();
  while (!stop()) {
    const id = `${tag}-${i}`;
    const result = await session.send({
      from: "b@b.test",
      to: [`b${i}@sink-b.test`],
      body: makeMessage("text2k", "b@b.test", `b${i}@sink-b.test`, id),
    });
    sent.set(id, result.endOfData);
    i++;
    const wait = started + i * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
  }
  session.close();
  const deadline = Date.now() + 30_000;
  while ([...sent.keys()].some((id) => !arrivals.has(id)) && Date.now() < deadline) await sleep(50);
  return [...sent].map(([id, endOfData]) => (arrivals.get(id) ?? Number.POSITIVE_INFINITY) - endOfData);
}

export async function runFairness(options: FairnessOptions): Promise<FairnessResult> {
  const arrivals = new Map<string, number>();
  let aArrived = 0;
  const sink = await startTimingSink({
    onArrival: (arrival) => {
      if (arrival.benchId) arrivals.set(arrival.benchId, arrival.at);
      else aArrived++;
    },
  });
  const relay = await startRelayProcess({
    name: "fairness",
    mode: "full",
    dir: join(options.dir, "fairness"),
    routes: {
      default: {
        senders: [{ name: "sink", host: "127.0.0.1", port: sink.port, tls: "none", maxConnections: 50 }],
      },
    },
    accounts: [benchAccount("a", "a.test"), benchAccount("b", "b.test")],
  });
  const file = join(options.dir, "fairness-a.eml");
  await writeFile(file, makeMessage("text2k", "a@a.test", "a@sink-a.test"));
  try {
    let warmSent = 0;
    await trickle(relay.smtpPort, arrivals, "warm", () => warmSent++ >= 3);
    let idleDone = false;
    const idleTimer = setTimeout(() => {
      idleDone = true;
    }, options.idleSeconds * 1000);
    const idle = await trickle(relay.smtpPort, arrivals, "idle", () => idleDone);
    clearTimeout(idleTimer);
    options.log(`  fairness: B idle p99 ${percentiles(idle).p99} ms over ${idle.length} messages`);

    let burstDone = false;
    const during = trickle(relay.smtpPort, arrivals, "burst", () => burstDone);
    const started = performance.now();
    await runSmtpSource({
      messages: options.burstMessages,
      file,
      sessions: 50,
      port: relay.smtpPort,
      from: "a@a.test",
      to: "a@sink-a.test",
    });
    await waitForCount(() => aArrived, options.burstMessages, 300_000);
    const burstSeconds = (performance.now() - started) / 1000;
    burstDone = true;
    const busy = await during;
    const result: FairnessResult = {
      burstMessages: options.burstMessages,
      burstSeconds,
      burstDelivered: aArrived,
      burstDeliveredPerSecond: aArrived / burstSeconds,
      bIdle: percentiles(idle),
      bDuringBurst: percentiles(busy),
      ratioP99: percentiles(busy).p99 / percentiles(idle).p99,
    };
    options.log(
      `  fairness: A ${aArrived}/${options.burstMessages} in ${burstSeconds.toFixed(1)} s; B p99 ${result.bDuringBurst.p99} ms during the burst (${busy.length} messages) vs ${result.bIdle.p99} ms idle: ${result.ratioP99.toFixed(2)}×`,
    );
    return result;
  } finally {
    await relay.stop();
    await sink.close();
  }
}
