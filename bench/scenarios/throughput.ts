/**
 * Throughput: smtp-source sends N messages over 50 connections to (a) a
 * private Postfix relaying to smtp-sink, (b) relayfleet in full mode
 * (tracking and RSA-2048 DKIM) and (c) relayfleet in passthrough, each to its
 * own smtp-sink, for each message kind. Runs are interleaved (every target
 * once per round, the order rotating) so a noisy neighbour hits all alike.
 * accepted/s: N over smtp-source's wall time; delivered/s: N over the time
 * from its first connection to smtp-sink counting the N-th message.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KIND_LABEL, type Kind, makeMessage } from "../lib/messages.js";
import {
  type PostfixInstance,
  runSmtpSource,
  type SmtpSink,
  startPostfix,
  startSmtpSink,
  waitForCount,
} from "../lib/postfix.js";
import { cpuSeconds, sleep } from "../lib/proc.js";
import { benchAccount, type RelayProcess, startRelayProcess } from "../lib/relay-process.js";
import { type Spread, spread } from "../lib/stats.js";

export type Target = "postfix" | "relayfleet-full" | "relayfleet-passthrough";
export const TARGETS: Target[] = ["postfix", "relayfleet-full", "relayfleet-passthrough"];

export interface ThroughputRow {
  kind: Kind;
  label: string;
  target: Target;
  messages: number;
  acceptedPerSecond: Spread;
  deliveredPerSecond: Spread;
  /** Relay process CPU milliseconds per message (relayfleet only). */
  cpuMsPerMessage?: Spread;
  incomplete: number;
}

export interface ThroughputOptions {
  dir: string;
  rounds: number;
  messages: Record<Kind, number>;
  log: (line: string) => void;
}

interface Rig {
  port: number;
  sink: SmtpSink;
  pid?: number;
  stop(): Promise<void>;
}

async function startRig(target: Target, dir: string): Promise<Rig> {
  const sink = await startSmtpSink();
  if (target === "postfix") {
    const postfix: PostfixInstance = await startPostfix(join(dir, "postfix"), sink.port);
    return {
      port: postfix.port,
      sink,
      stop: async () => {
        postfix.stop();
        await sink.stop();
      },
    };
  }
  const relay: RelayProcess = await startRelayProcess({
    name: target,
    mode: target === "relayfleet-full" ? "full" : "passthrough",
    dir: join(dir, target),
    routes: {
      default: {
        senders: [{ name: "sink", host: "127.0.0.1", port: sink.port, tls: "none", maxConnections: 50 }],
      },
    },
    accounts: [benchAccount("bench", "bench.test")],
  });
  return {
    port: relay.smtpPort,
    sink,
    pid: relay.pid,
    stop: async () => {
      await relay.stop();
      await sink.stop();
    },
  };
}

export async function runThroughput(options: ThroughputOptions): Promise<ThroughputRow[]> {
  const kinds = Object.keys(options.messages) as Kind[];
  const files = new Map<Kind, string>();
  for (const kind of kinds) {
    const file = join(options.dir, `${kind}.eml`);
    await writeFile(file, makeMessage(kind, "app@bench.test", "rcpt@sink.test"));
    files.set(kind, file);
  }
  const rigs = new Map<Target, Rig>();
  for (const target of TARGETS) rigs.set(target, await startRig(target, options.dir));
  type Sample = { accepted: number; delivered: number; cpuMs?: number; incomplete: number };
  const samples = new Map<string, Sample[]>();
  try {
    // One short warm-up per relay so tsx compilation and JIT are not in round 1.
    for (const target of TARGETS) {
      const rig = rigs.get(target)!;
      const before = rig.sink.count();
      await runSmtpSource({
        messages: 200,
        file: files.get("text2k")!,
        sessions: 10,
        port: rig.port,
        from: "app@bench.test",
        to: "rcpt@sink.test",
      });
      await waitForCount(rig.sink.count, before + 200, 30_000);
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const kind of kinds) {
        const order = TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length] as Target);
        for (const target of order) {
          const rig = rigs.get(target)!;
          const n = options.messages[kind];
          const before = rig.sink.count();
          const cpuBefore = rig.pid ? cpuSeconds(rig.pid) : 0;
          const started = performance.now();
          const acceptSeconds = await runSmtpSource({
            messages: n,
            file: files.get(kind)!,
            sessions: 50,
            port: rig.port,
            from: "app@bench.test",
            to: "rcpt@sink.test",
          });
          await waitForCount(rig.sink.count, before + n, 180_000);
          const deliveredCount = rig.sink.count() - before;
          const seconds = (performance.now() - started) / 1000;
          const sample: Sample = {
            accepted: n / acceptSeconds,
            delivered: deliveredCount / seconds,
            incomplete: Math.max(0, n - deliveredCount),
            ...(rig.pid ? { cpuMs: ((cpuSeconds(rig.pid) - cpuBefore) * 1000) / n } : {}),
          };
          const key = `${kind}/${target}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          options.log(
            `  throughput ${KIND_LABEL[kind]} → ${target}: accepted ${sample.accepted.toFixed(0)}/s, delivered ${sample.delivered.toFixed(0)}/s${sample.incomplete ? ` (${sample.incomplete} missing)` : ""}`,
          );
          await sleep(500);
        }
      }
    }
  } finally {
    for (const rig of rigs.values()) await rig.stop();
  }
  const rows: ThroughputRow[] = [];
  for (const kind of kinds) {
    for (const target of TARGETS) {
      const list = samples.get(`${kind}/${target}`) ?? [];
      const cpu = list.flatMap((s) => (s.cpuMs === undefined ? [] : [s.cpuMs]));
      rows.push({
        kind,
        label: KIND_LABEL[kind],
        target,
        messages: options.messages[kind],
        acceptedPerSecond: spread(list.map((s) => s.accepted)),
        deliveredPerSecond: spread(list.map((s) => s.delivered)),
        ...(cpu.length ? { cpuMsPerMessage: spread(cpu) } : {}),
        incomplete: list.reduce((sum, s) => sum + s.incomplete, 0),
      });
    }
  }
  return rows;
}
