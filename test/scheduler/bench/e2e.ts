/**
 * End-to-end throughput and latency on this machine (not a test; run by hand):
 *
 *   npx tsx test/scheduler/bench/e2e.ts [full|passthrough] [messages] [rate]
 *
 * Postfix's smtp-source (50 sessions, 2 KB messages) → relay (durable spool,
 * transform with tracking and RSA-2048 DKIM in full mode) → a sink. Without
 * `rate`, the sink is Postfix's smtp-sink and the figure is recipients/second
 * from the first connection to the last delivery. With `rate` (messages/s),
 * a paced Node client sends and a Node sink reads each copy's relay ID (its
 * first 9 characters are the acceptance time) to measure end-of-DATA to
 * delivered latency.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import { relayConfigSchema } from "../../../relay/config/schema.js";
import { createLogger } from "../../../relay/log/logger.js";
import { startRelay } from "../../../relay/main.js";
import { freePort } from "../../support/free-port.js";

const mode = (process.argv[2] ?? "full") as "full" | "passthrough";
const messages = Number(process.argv[3] ?? 20_000);
const rate = process.argv[4] ? Number(process.argv[4]) : undefined;

async function delivered(relay: Awaited<ReturnType<typeof startRelay>>): Promise<number> {
  const metric = await relay.metrics.deliveries.get();
  return metric.values.find((v) => v.labels.result === "delivered")?.value ?? 0;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "relayfleet-bench-"));
  const sinkPort = await freePort();
  const latencies: number[] = [];
  let stopSink: () => void;
  if (rate === undefined) {
    const sink = spawn("smtp-sink", ["-u", "nobody", `127.0.0.1:${sinkPort}`, "1000"], { stdio: "ignore" });
    stopSink = () => sink.kill();
  } else {
    const server = new SMTPServer({
      disabledCommands: ["STARTTLS", "AUTH"],
      authOptional: true,
      logger: false,
      onData(stream, _session, callback) {
        let head = "";
        stream.on("data", (chunk: Buffer) => {
          if (head.length < 400) head += chunk.toString("latin1");
        });
        stream.on("end", () => {
          const id = / id ([0-9a-z]{23})/.exec(head)?.[1];
          if (id) latencies.push(Date.now() - Number.parseInt(id.slice(0, 9), 36));
          callback();
        });
      },
    });
    server.listen(sinkPort, "127.0.0.1");
    stopSink = () => server.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 300));

  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const config = relayConfigSchema.parse({
    hostname: "relay.bench",
    listen: { smtp: ["127.0.0.1:0"], api: "127.0.0.1:0", metrics: "127.0.0.1:0", tracking: "127.0.0.1:0" },
    dataDir: dir,
    mode,
    logLevel: "warn",
    intake: { maxConnectionsPerIp: 500, minFreeBytes: 0 },
    routes: {
      default: {
        senders: [{ name: "sink", host: "127.0.0.1", port: sinkPort, tls: "none", maxConnections: 50 }],
      },
    },
    accounts: [
      {
        name: "bench",
        allowedIps: ["127.0.0.0/8"],
        allowedFrom: ["*"],
        dkim: [
          {
            domain: "bench.test",
            selector: "s1",
            privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
          },
        ],
      },
    ],
  });
  const relay = await startRelay(config, createLogger({ level: "warn" }));
  const port = (relay.intake.addresses[0] as { port: number }).port;
  const started = Date.now();
  let sent = 0;
  if (rate === undefined) {
    const source = spawn(
      "smtp-source",
      [
        "-d",
        "-s",
        "50",
        "-m",
        String(messages),
        "-l",
        "2048",
        "-f",
        "app@bench.test",
        "-t",
        "rcpt@sink.test",
        `127.0.0.1:${port}`,
      ],
      { stdio: "inherit" },
    );
    await new Promise((resolve) => source.once("exit", resolve));
    sent = messages;
  } else {
    const html = `<html><body><p>Result for runner ***uniqueid***</p>${'<p><a href="https://results.example/r/1">Your splits</a> lorem ipsum dolor sit amet consectetur.</p>'.repeat(16)}</body></html>`;
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      pool: true,
      maxConnections: 50,
      maxMessages: Number.POSITIVE_INFINITY,
    });
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < messages; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      pending.push(
        transport.sendMail({ from: "app@bench.test", to: `r${i}@sink.test`, subject: `Runner ${i}`, html }),
      );
      sent++;
    }
    await Promise.all(pending);
    transport.close();
  }
  const accepted = Date.now();
  while ((await delivered(relay)) < sent) {
    if (Date.now() - accepted > 120_000) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (Date.now() - started) / 1000;
  const done = await delivered(relay);
  const result = {
    mode,
    messages: sent,
    delivered: done,
    seconds: Number(seconds.toFixed(2)),
    intakeSeconds: Number(((accepted - started) / 1000).toFixed(2)),
    recipientsPerSecond: Math.round(done / seconds),
    ...(rate !== undefined
      ? {
          offeredRate: rate,
          latencyP50ms: percentile(latencies, 50),
          latencyP99ms: percentile(latencies, 99),
        }
      : {}),
  };
  console.log(JSON.stringify(result));
  await relay.stop();
  stopSink();
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
}

void main();
