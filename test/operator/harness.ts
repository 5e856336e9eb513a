/**
 * What operator tests share: a test API server with the fake kubelet, the
 * CRDs (relayfleet's, ExternalDNS's, optionally ServiceMonitor's), a Redis
 * Store with a unique prefix, fake relays (real HTTP servers answering
 * /metrics with the relay's own metric names and /v1/admin/drain), and an
 * operator with timings short enough for tests.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { crdFiles } from "../../operator/api/crds.js";
import { KubeClient, type KubeObject } from "../../operator/kube/client.js";
import { type Operator, type OperatorOptions, startOperator } from "../../operator/operator.js";
import { silentLogger } from "../../relay/log/logger.js";
import { createMetrics, type Metrics } from "../../relay/metrics/index.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import type { Store } from "../../relay/store/types.js";
import { startTestApiServer, type TestApiServer } from "../kube/index.js";
import { type FakeKubelet, fakeKubelet } from "./kubelet.js";

const fixtures = resolve(import.meta.dirname, "fixtures");

export interface FakeRelay {
  name: string;
  metrics: Metrics;
  drainCalls: number;
  /** The bearer token each drain call carried. */
  tokens: string[];
  /** The targets of each hand-off request; a fake relay's queue is empty after one. */
  handoffs: string[][];
  url: string;
}

export interface Harness {
  server: TestApiServer;
  kubelet: FakeKubelet;
  kubeConfig: KubeConfig;
  client: KubeClient;
  store: Store;
  prefix: string;
  dir: string;
  relays: Map<string, FakeRelay>;
  relay(podName: string): Promise<FakeRelay>;
  startOperator(overrides?: Partial<OperatorOptions>): Promise<Operator>;
  applyYaml(text: string): Promise<KubeObject[]>;
  stop(): Promise<void>;
}

async function startFakeRelay(name: string): Promise<{ relay: FakeRelay; server: Server }> {
  const metrics = createMetrics({ defaultMetrics: false });
  for (const state of ["queued", "active", "deferred"]) metrics.queueMessages.set({ state }, 0);
  const relay: FakeRelay = { name, metrics, drainCalls: 0, tokens: [], handoffs: [], url: "" };
  const server = createServer((request, response) => {
    if (request.url === "/metrics") {
      metrics.registry.metrics().then((text) => response.writeHead(200).end(text));
    } else if (request.url === "/v1/admin/drain" && request.method === "POST") {
      relay.drainCalls += 1;
      relay.tokens.push((request.headers.authorization ?? "").replace(/^Bearer /, ""));
      response.writeHead(200, { "content-type": "application/json" }).end('{"status":"drained"}');
    } else if (request.url === "/v1/admin/handoff" && request.method === "POST") {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on("end", () => {
        relay.handoffs.push((JSON.parse(body) as { targets: string[] }).targets);
        // What a real relay does (test/relay/handoff.test.ts): its queue goes to the targets.
        for (const state of ["queued", "active", "deferred"]) metrics.queueMessages.set({ state }, 0);
        response.writeHead(202, { "content-type": "application/json" }).end('{"status":"handing off"}');
      });
    } else response.writeHead(404).end();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { relay, server };
}

export async function startHarness(options: {
  serviceMonitor?: boolean;
  redisUrl: string;
}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "relayfleet-operator-"));
  const kubelet = fakeKubelet();
  const server = await startTestApiServer({
    kubeconfigPath: join(dir, "kubeconfig"),
    controllers: [kubelet.factory],
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(join(dir, "kubeconfig"));
  const client = new KubeClient(kubeConfig);
  const prefix = `op-${randomBytes(4).toString("hex")}:`;
  const store = await openRedisStore({ url: options.redisUrl, prefix, logger: silentLogger() });
  const relays = new Map<string, FakeRelay>();
  const relayServers: Server[] = [];
  const operators: Operator[] = [];

  const applyYaml = async (text: string) => {
    const out: KubeObject[] = [];
    for (const doc of parseAllDocuments(text)) {
      const object = doc.toJS() as KubeObject | null;
      if (!object) continue;
      const [group, version] = (object.apiVersion ?? "").split("/");
      const apiVersion = version === undefined ? (group as string) : `${group}/${version}`;
      const plural = `${(object.kind ?? "").toLowerCase()}s`.replace(/ys$/, "ies").replace(/sss$/, "sses");
      out.push(
        await client.apply(
          {
            apiVersion,
            plural,
            ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
          },
          object,
          "test",
        ),
      );
    }
    return out;
  };

  for (const text of Object.values(crdFiles())) await applyYaml(text);
  await applyYaml(readFileSync(join(fixtures, "dnsendpoint-crd.yaml"), "utf8"));
  if (options.serviceMonitor)
    await applyYaml(readFileSync(join(fixtures, "servicemonitor-crd.yaml"), "utf8"));
  await client.create({ apiVersion: "v1", plural: "namespaces" }, { metadata: { name: "mail" } });

  const relay = async (podName: string) => {
    let found = relays.get(podName);
    if (!found) {
      const started = await startFakeRelay(podName);
      relayServers.push(started.server);
      relays.set(podName, started.relay);
      found = started.relay;
    }
    return found;
  };
  // Fake relays exist before the operator asks, so relayAddress can stay synchronous.
  const byName = (podName: string) => relays.get(podName);
  server.api.storage.subscribe((event) => {
    const name = (event.object.metadata as { name?: string } | undefined)?.name;
    if (event.resource === "/pods" && event.type === "ADDED" && name) void relay(name);
  });

  return {
    server,
    kubelet,
    kubeConfig,
    client,
    store,
    prefix,
    dir,
    relays,
    relay,
    applyYaml,
    async startOperator(overrides = {}) {
      const operator = await startOperator({
        kubeConfig,
        // Each pool's Redis under this run's prefix, so runs sharing a redis-server stay apart.
        openStore: (target) =>
          openRedisStore({ url: target.url, cluster: target.cluster, prefix, logger: silentLogger() }),
        logger: silentLogger(),
        identity: `op-${operators.length}`,
        leaderElection: { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 200 },
        fetchTimeoutMs: 1_000,
        relayAddress: (pod) => {
          const fake = byName(pod.metadata?.name ?? "");
          return fake ? { api: fake.url, metrics: `${fake.url}/metrics` } : undefined;
        },
        ...overrides,
      });
      operators.push(operator);
      return operator;
    },
    async stop() {
      for (const operator of operators) await operator.stop();
      await server.stop();
      for (const s of relayServers) {
        s.closeAllConnections();
        await new Promise<void>((done) => s.close(() => done()));
      }
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function get<T = KubeObject>(h: Harness, apiVersion: string, plural: string, name: string) {
  return h.client.find<KubeObject & T>({ apiVersion, plural, namespace: "mail" }, name);
}

/**
 * A RelayPool with no relays whose Redis is `redisUrl` and whose route is `route`: what makes the
 * operator publish that SenderRoute there (routes go to the Redis of the pools that use them).
 */
export const poolUsingRoute = (route: string, redisUrl: string, name = `uses-${route}`) => `
apiVersion: relayfleet.io/v1alpha1
kind: RelayPool
metadata: { name: ${name}, namespace: mail }
spec:
  replicas: 0
  senderRoute: ${route}
  redis: { url: "${redisUrl}" }
`;

/** Polls outside a test body (beforeAll), where expect.poll is not allowed. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
