/**
 * The whole fleet on one machine, for `npm run sandbox` and the end-to-end
 * test: the test API server with the relay kubelet (relays as real processes
 * on 127.0.X.N), a private redis-server, Prometheus scraping the relays
 * (file-based discovery, rewritten from the pods every second, with the
 * namespace/service labels a ServiceMonitor would give), the operator as its
 * own `relayfleet operator` process, one SMTP peer per recipient domain
 * playing that domain's ISP, and the pool's tracking Service played by a
 * balancer over the ready relays (PREFIX.254:8080). stop() ends every
 * process it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { startTestApiServer, type TestApiServer } from "../kube/index.js";
import { type Kubelet, relayKubelet } from "../kube/kubelet.js";
import { freePort } from "../support/free-port.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { type SmtpPeer, startSmtpPeer } from "../support/smtp-peer.js";
import { type ExampleInputs, exampleYaml } from "./examples.js";
import { type ServiceBalancer, startServiceBalancer } from "./service-balancer.js";

const REPO_ROOT = resolve(import.meta.dirname, "../..");
const DNSENDPOINT_CRD = join(REPO_ROOT, "test/operator/fixtures/dnsendpoint-crd.yaml");

export interface FleetOptions {
  workDir: string;
  /** Pod addresses are PREFIX.N; different prefixes let a test and a sandbox run side by side. */
  addressPrefix?: string;
  domains?: string[];
  apiServerPort?: number;
  /** Cap on pods' grace periods. */
  maxGraceMs?: number;
  operatorLogLevel?: string;
  onEvent?: (line: string) => void;
}

export interface Fleet {
  server: TestApiServer;
  kubelet: Kubelet;
  kubeconfigPath: string;
  redis: RedisServer;
  prometheusUrl: string;
  /** The tracking Service: the base URL the example pool writes into every copy. */
  tracking: ServiceBalancer;
  /** Recipient domain → the SMTP peer playing its ISP. */
  peers: Map<string, SmtpPeer>;
  workDir: string;
  /** Source addresses the example senders bind to (the two "outbound IPs"). */
  sourceAddresses: [string, string];
  stop(): Promise<void>;
}

/** The example RelayPool and SenderRoute wired to this fleet's Redis, Prometheus, ISPs and tracking Service. */
export function fleetExamples(
  fleet: Fleet,
  extra: Pick<ExampleInputs, "autoscaling" | "drainTimeoutSeconds" | "tls" | "smtpPorts" | "relay"> = {},
): string {
  return exampleYaml({
    redisUrl: fleet.redis.url,
    prometheusUrl: fleet.prometheusUrl,
    isps: [...fleet.peers].map(([domain, peer]) => ({ domain, host: peer.host, port: peer.port })),
    sourceAddresses: fleet.sourceAddresses,
    trackingBaseUrl: fleet.tracking.url,
    ...extra,
  });
}

export function prometheusConfig(targetsFile: string): string {
  return [
    "global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }",
    "scrape_configs:",
    "  - job_name: relays",
    "    file_sd_configs:",
    `      - files: [${JSON.stringify(targetsFile)}]`,
    "        refresh_interval: 1s",
    "",
  ].join("\n");
}

type Json = Record<string, unknown>;

/** Prometheus file_sd targets for the running relay pods, labelled as a ServiceMonitor would label them. */
export function scrapeTargets(pods: readonly Json[]): Json[] {
  const out: Json[] = [];
  for (const pod of pods) {
    const metadata = (pod.metadata ?? {}) as {
      name: string;
      namespace: string;
      labels?: Record<string, string>;
    };
    const status = (pod.status ?? {}) as { phase?: string; podIP?: string };
    const poolName = metadata.labels?.["relayfleet.io/pool"];
    if (!poolName || status.phase !== "Running" || !status.podIP) continue;
    out.push({
      targets: [`${status.podIP}:9464`],
      labels: { namespace: metadata.namespace, service: `${poolName}-relays`, pod: metadata.name },
    });
  }
  return out;
}

function spawnLogged(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], env });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once("exit", () => log.end());
  // A missing binary is an "error" event, not an exit: say so in the log; waitForHttp reports the exit code.
  child.once("error", (error) => log.end(`${command}: ${error.message}\n`));
  return child;
}

async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(killer);
}

async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (child && child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${url} not up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { workDir } = options;
  mkdirSync(join(workDir, "logs"), { recursive: true });
  const say = (line: string) => options.onEvent?.(line);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch((error: unknown) => say(`stop: ${String(error)}`));
  };
  try {
    const redis = await startRedisServer();
    stops.push(() => redis.stop());

    const domains = options.domains ?? ["isp-a.test", "isp-b.test"];
    const peers = new Map<string, SmtpPeer>();
    for (const domain of domains) {
      const peer = await startSmtpPeer({ name: `mx.${domain}`, host: "127.0.0.1" });
      peers.set(domain, peer);
      stops.push(() => peer.stop());
    }

    const kubelet = relayKubelet({
      workDir: join(workDir, "node"),
      addressPrefix: options.addressPrefix ?? "127.0.1",
      maxGraceMs: options.maxGraceMs ?? 30_000,
      env: { LOG_LEVEL: "info" },
      onEvent: (event) => say(`kubelet: ${event.pod} ${event.what}`),
    });
    const tracking = await startServiceBalancer({
      host: `${options.addressPrefix ?? "127.0.1"}.254`,
      port: 8080,
      backends: () =>
        kubelet
          .pods()
          .filter((pod) => pod.status.ready && pod.status.podIp)
          .map((pod) => `${pod.status.podIp}:8080`),
    });
    stops.push(() => tracking.stop());
    const kubeconfigPath = join(workDir, "kubeconfig");
    const server = await startTestApiServer({
      kubeconfigPath,
      controllers: [kubelet.factory],
      ...(options.apiServerPort ? { port: options.apiServerPort } : {}),
    });
    stops.push(() => server.stop());
    // ExternalDNS's CRD, so the operator has somewhere to publish the pool's A records.
    const crdType = server.api.types.findByKind("apiextensions.k8s.io/v1", "CustomResourceDefinition");
    for (const doc of parseAllDocuments(readFileSync(DNSENDPOINT_CRD, "utf8"))) {
      const object = doc.toJS() as Json | null;
      if (object && crdType) server.api.objects.create(crdType, undefined, object as never);
    }

    const targetsFile = join(workDir, "prometheus-targets.json");
    const writeTargets = () => {
      const podType = server.api.types.findByKind("v1", "Pod");
      const pods = podType ? (server.api.objects.list(podType, undefined) as Json[]) : [];
      writeFileSync(`${targetsFile}.tmp`, JSON.stringify(scrapeTargets(pods)));
      // Rename, so Prometheus never reads half a file.
      renameSync(`${targetsFile}.tmp`, targetsFile);
    };
    writeTargets();
    const targetsTimer = setInterval(writeTargets, 1_000);
    stops.push(async () => clearInterval(targetsTimer));
    const promConfig = join(workDir, "prometheus.yml");
    writeFileSync(promConfig, prometheusConfig(targetsFile));
    const promPort = await freePort();
    const prometheus = spawnLogged(
      "prometheus",
      [
        `--config.file=${promConfig}`,
        `--storage.tsdb.path=${join(workDir, "prometheus-data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--storage.tsdb.retention.time=1d",
      ],
      join(workDir, "logs", "prometheus.log"),
      process.env,
    );
    stops.push(() => stopChild(prometheus));
    const prometheusUrl = `http://127.0.0.1:${promPort}`;
    await waitForHttp(`${prometheusUrl}/-/ready`, 30_000, prometheus);

    const healthPort = await freePort();
    const operator = spawnLogged(
      process.execPath,
      [
        "--import",
        "tsx",
        "bin/relayfleet.ts",
        "operator",
        "--kubeconfig",
        kubeconfigPath,
        "--redis",
        redis.url,
        "--health-port",
        String(healthPort),
        "--log-level",
        options.operatorLogLevel ?? "info",
      ],
      join(workDir, "logs", "operator.log"),
      { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
    );
    stops.push(() => stopChild(operator));
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, 30_000, operator);
    say(`operator up (health on ${healthPort})`);

    return {
      server,
      kubelet,
      kubeconfigPath,
      redis,
      prometheusUrl,
      tracking,
      peers,
      workDir,
      sourceAddresses: ["127.0.0.2", "127.0.0.3"],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
