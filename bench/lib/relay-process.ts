/**
 * A relayfleet relay in its own process (`relayfleet relay --config FILE`,
 * compiled as `npm start` and the image run it: `node dist/bin/relayfleet.js`;
 * `RELAYFLEET_BENCH_FROM_SOURCE=1` runs the TypeScript through tsx instead),
 * so its RSS and CPU are its own and the load generator and sinks do not
 * share its event loop. Counters come from its /metrics.
 */
import type { ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { openSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../test/support/free-port.js";
import { spawnTracked, stopChild, waitForPort } from "./proc.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface RelayProcess {
  name: string;
  pid: number;
  smtpPort: number;
  logFile: string;
  /** A counter or gauge from /metrics, summed over series whose labels include `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  delivered(): Promise<number>;
  stop(): Promise<void>;
}

export interface RelaySpec {
  name: string;
  mode: "full" | "passthrough";
  /** Temp directory for this relay's config, data and log. */
  dir: string;
  routes: Record<string, unknown>;
  accounts: unknown[];
  maxMessageBytes?: number;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

let rsaKey: string | undefined;
/** One RSA-2048 key for every benchmark account (generating one takes ~100 ms of CPU). */
export function benchDkimKey(): string {
  rsaKey ??= generateKeyPairSync("rsa", { modulusLength: 2048 })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
  return rsaKey;
}

/** An account relaying for `*@domain` from loopback, signing with RSA-2048 DKIM. */
export function benchAccount(name: string, domain: string, extra: Record<string, unknown> = {}): unknown {
  return {
    name,
    allowedIps: ["127.0.0.0/8"],
    allowedFrom: [`*@${domain}`],
    dkim: [{ domain, selector: "bench", privateKey: benchDkimKey() }],
    ...extra,
  };
}

/** What runs the relay: the compiled build (what users run), or the sources through tsx. */
export const RELAY_FROM_SOURCE = process.env.RELAYFLEET_BENCH_FROM_SOURCE === "1";
const RELAY_ENTRY = RELAY_FROM_SOURCE ? ["--import", "tsx", "bin/relayfleet.ts"] : ["dist/bin/relayfleet.js"];

function parseMetric(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== "{" && line[name.length] !== " ")) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

export async function startRelayProcess(spec: RelaySpec): Promise<RelayProcess> {
  await mkdir(spec.dir, { recursive: true });
  const [smtpPort, metricsPort, apiPort, trackingPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const config = {
    hostname: `${spec.name}.bench`,
    listen: {
      smtp: [`127.0.0.1:${smtpPort}`],
      api: `127.0.0.1:${apiPort}`,
      metrics: `127.0.0.1:${metricsPort}`,
      tracking: `127.0.0.1:${trackingPort}`,
    },
    dataDir: join(spec.dir, "data"),
    trackingBaseUrl: "https://t.bench.example",
    mode: spec.mode,
    logLevel: "warn",
    maxMessageBytes: spec.maxMessageBytes ?? 104_857_600,
    intake: { maxConnectionsPerIp: 1000, minFreeBytes: 0, greetingDelayMs: 0 },
    routes: spec.routes,
    accounts: spec.accounts,
  };
  const configFile = join(spec.dir, "relay.yaml");
  await writeFile(configFile, JSON.stringify(config, null, 2)); // JSON is YAML
  const logFile = join(spec.dir, "relay.log");
  const log = openSync(logFile, "a");
  const child: ChildProcess = spawnTracked(
    process.execPath,
    [...(spec.nodeFlags ?? []), ...RELAY_ENTRY, "relay", "--config", configFile],
    { cwd: REPO_ROOT, stdio: ["ignore", log, log], env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  const died = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`relay ${spec.name} exited (${code}); see ${logFile}`))),
  );
  died.catch(() => {});
  await Promise.race([waitForPort(smtpPort), died]);
  await Promise.race([waitForPort(metricsPort), died]);
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    return parseMetric(await response.text(), name, labels);
  };
  return {
    name: spec.name,
    pid: child.pid ?? 0,
    smtpPort,
    logFile,
    metric,
    delivered: () => metric("relayfleet_deliveries_total", { result: "delivered" }),
    stop: () => stopChild(child, 20_000),
  };
}
