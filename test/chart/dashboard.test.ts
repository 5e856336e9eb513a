/**
 * The dashboard and the RBAC tested for real. A relay process takes a short
 * load (two accounts, one recipient deferred, one blocked, pixels fetched); the
 * operator reconciles the chart's example RelayPool and SenderRoute on the test
 * API server; Prometheus scrapes both, labelled as the Prometheus Operator would
 * label them. Then every panel's query, interpolated as Grafana would, must
 * return data through Prometheus's HTTP API; and every API call the operator
 * made must be allowed by the chart's ClusterRole and Roles: the operator runs
 * as the chart's ServiceAccount, and the test API server's RBAC judges each call.
 *
 * With DASHBOARD_RESULTS=FILE the panels' range results are written there
 * (test/chart/render-dashboard.ts draws docs/chart-dashboard.png from them).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { simpleParser } from "mailparser";
import { createTransport } from "nodemailer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { KubeClient, type KubeObject } from "../../operator/kube/client.js";
import { type Operator, startOperator } from "../../operator/operator.js";
import { silentLogger } from "../../relay/log/logger.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import type { Store } from "../../relay/store/types.js";
import { requestInfo } from "../kube/request-info.js";
import { startTestApiServer, type TestApiServer } from "../kube/server.js";
import { freePort } from "../support/free-port.js";
import { writeRelayConfig } from "../support/relay-process.js";
import { type SmtpPeer, startSmtpPeer } from "../support/smtp-peer.js";
import { CHART, FIXTURES, type KubeDoc, parseDocs, renderChart } from "./chart.js";
import { applyVariableRegex, interpolate, loadDashboard, parseLabelValues } from "./dashboard.js";
import { type PrometheusServer, type Sample, startPrometheus } from "./prometheus.js";

const READER =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const RELEASE_NAMESPACE = "relayfleet-system";
const RATE_INTERVAL = "30s";
/** Grafana's reference to the data source variable (a literal "$", not a JavaScript template). */
const DATASOURCE = { type: "prometheus", uid: "$" + "{datasource}" };
const CHOSEN = { namespace: ["mail"], pool: ["marathon"], account: "All" } as const;
const EXAMPLE_VALUES = [
  "--set",
  "examples.enabled=true",
  "--set",
  "examples.namespace=mail",
  "--set",
  "examples.relayPool.name=marathon",
];
const OPERATOR_SERVICE_ACCOUNT = "fleet-relayfleet";

let dir: string;
let peer: SmtpPeer;
let relay: ChildProcess;
let relayMetricsUrl: string;
let relaySmtpPort: number;
let server: TestApiServer;
let store: Store;
let operator: Operator;
let operatorMetricsUrl: string;
let prometheus: PrometheusServer;
let loadStartedAt: number;
const requests: string[] = [];
/** Requests before this index were the test's own (CRDs, namespaces, the example objects). */
let operatorRequestsFrom = 0;

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const text = (url: string) => fetch(url).then((r) => r.text());

async function startOperatorOnTestCluster(): Promise<void> {
  server = await startTestApiServer({
    kubeconfigPath: join(dir, "kubeconfig"),
    onRequest: (line) => requests.push(line),
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(join(dir, "kubeconfig"));
  const client = new KubeClient(kubeConfig);
  const apply = async (doc: KubeObject) => {
    const [group, version] = (doc.apiVersion ?? "").split("/");
    const apiVersion = version === undefined ? (group as string) : `${group}/${version}`;
    const plural = `${(doc.kind ?? "").toLowerCase()}s`;
    const namespace = doc.metadata?.namespace;
    await client.apply({ apiVersion, plural, ...(namespace ? { namespace } : {}) }, doc, "helm");
  };
  const { readFileSync, readdirSync } = await import("node:fs");
  const crdTexts = [
    ...readdirSync(join(CHART, "crds")).map((f) => readFileSync(join(CHART, "crds", f), "utf8")),
    readFileSync(join(FIXTURES, "monitoring-crds.yaml"), "utf8"),
  ];
  for (const doc of crdTexts.flatMap((t) => parseDocs(t))) {
    await client.apply(
      { apiVersion: "apiextensions.k8s.io/v1", plural: "customresourcedefinitions" },
      doc as KubeObject,
      "helm",
    );
  }
  for (const name of [RELEASE_NAMESPACE, "mail"])
    await client.create({ apiVersion: "v1", plural: "namespaces" }, { metadata: { name } });
  await until(
    async () => (await client.serves("relayfleet.io/v1alpha1", "relaypools")) === true,
    "relayfleet CRDs served",
  );
  // The chart's own example objects and RBAC, as helm would create them.
  const docs = await renderChart(EXAMPLE_VALUES, { namespace: RELEASE_NAMESPACE });
  const rbacKinds = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
  for (const doc of docs.filter(
    (d: KubeDoc) => d.apiVersion === "relayfleet.io/v1alpha1" || rbacKinds.has(d.kind),
  ))
    await apply(doc as KubeObject);
  // The operator runs as the chart's ServiceAccount, so the API server enforces the chart's RBAC.
  const operatorKubeConfig = new KubeConfig();
  operatorKubeConfig.loadFromString(await server.kubeconfigFor(RELEASE_NAMESPACE, OPERATOR_SERVICE_ACCOUNT));

  store = await openRedisStore({
    url: inject("redisUrl"),
    prefix: `chart-${randomBytes(4).toString("hex")}:`,
    logger: silentLogger(),
  });
  const healthPort = await freePort();
  operatorRequestsFrom = requests.length;
  operator = await startOperator({
    kubeConfig: operatorKubeConfig,
    store: { target: { url: inject("redisUrl"), cluster: false }, store },
    logger: silentLogger(),
    identity: "fleet-relayfleet-operator-0",
    leaseNamespace: RELEASE_NAMESPACE,
    leaderElection: { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 200 },
    healthPort,
    healthHost: "127.0.0.1",
  });
  operatorMetricsUrl = `http://127.0.0.1:${healthPort}/metrics`;
  await until(
    async () =>
      /relayfleet_operator_desired_replicas\{namespace="mail",pool="marathon"\} 1/.test(
        await text(operatorMetricsUrl),
      ),
    "the operator reconciled the example RelayPool",
  );
}

async function startLoadedRelay(): Promise<void> {
  peer = await startSmtpPeer({ name: "mx.isp.test" });
  peer.forRecipient("slow@isp.test", "defer");
  peer.forRecipient("listed@blocklisting.test", "blocked");
  const [smtp, api, tracking, metrics] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  await mkdir(join(dir, "relay"));
  relay = await spawnRelay(join(dir, "relay"), smtp, {
    dataDir: join(dir, "relay", "data"),
    logLevel: "warn",
    hostname: "relay.test",
    listen: {
      smtp: [`127.0.0.1:${smtp}`],
      api: `127.0.0.1:${api}`,
      tracking: `127.0.0.1:${tracking}`,
      metrics: `127.0.0.1:${metrics}`,
    },
    trackingBaseUrl: `http://127.0.0.1:${tracking}`,
    routes: {
      default: { policy: "failover", senders: [{ name: "isp", host: "127.0.0.1", port: peer.port }] },
    },
    accounts: [
      { name: "shop", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@shop.test"] },
      { name: "news", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@news.test"] },
    ],
  });
  relayMetricsUrl = `http://127.0.0.1:${metrics}/metrics`;
  relaySmtpPort = smtp;
}

/** `relayfleet relay` as its own process, with every listener on a port the test chose. */
async function spawnRelay(
  relayDir: string,
  smtpPort: number,
  config: Record<string, unknown>,
): Promise<ChildProcess> {
  const file = await writeRelayConfig(relayDir, config);
  const child = spawn(process.execPath, ["--import", "tsx", "bin/relayfleet.ts", "relay", "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, REDIS_URL: "" },
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const open = () =>
    new Promise<boolean>((done) => {
      const socket = connect({ port: smtpPort, host: "127.0.0.1" });
      socket.once("connect", () => {
        socket.destroy();
        done(true);
      });
      socket.once("error", () => done(false));
    });
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}:\n${output}`);
      return open();
    }, "relay SMTP listener");
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

function message(from: string, to: string, n: number): string {
  return [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: Load ${n}`,
    "MIME-Version: 1.0",
    "Content-Type: text/html; charset=utf-8",
    "",
    `<html><body><p>Message ${n}</p><a href="https://shop.example/item/${n}">Item</a></body></html>`,
    "",
  ].join("\r\n");
}

/** Four rounds, 1.5 s apart (so counters rise between scrapes): shop and news, one deferred and one blocked recipient. */
async function sendLoad(): Promise<void> {
  const transport = createTransport({
    host: "127.0.0.1",
    port: relaySmtpPort,
    secure: false,
    ignoreTLS: true,
  });
  let n = 0;
  let accepted = 0;
  for (let round = 0; round < 4; round++) {
    const sends: [string, string][] = [
      ["news@shop.test", `reader${round}a@isp.test`],
      ["news@shop.test", `reader${round}b@isp.test`],
      ["daily@news.test", `reader${round}c@isp.test`],
      ["news@shop.test", "slow@isp.test"],
    ];
    if (round === 0) sends.push(["daily@news.test", "listed@blocklisting.test"]);
    for (const [from, to] of sends) {
      n += 1;
      await transport.sendMail({ envelope: { from, to: [to] }, raw: message(from, to, n) });
      if (!to.startsWith("slow") && !to.startsWith("listed")) accepted += 1;
    }
    await new Promise((r) => setTimeout(r, 1_500));
  }
  transport.close();
  const delivered = await peer.waitForMessages(accepted, 20_000);
  // Opens in two rounds, so the tracking counters rise between scrapes too.
  const pixels: string[] = [];
  for (const copy of delivered) {
    const html = String((await simpleParser(copy.raw)).html);
    const pixel = /http:\/\/127\.0\.0\.1:\d+\/o\/[A-Za-z0-9_-]+\.gif/.exec(html)?.[0];
    if (pixel) pixels.push(pixel);
  }
  expect(pixels.length).toBe(accepted);
  for (const [i, pixel] of pixels.entries()) {
    if (i === Math.floor(pixels.length / 2)) await new Promise((r) => setTimeout(r, 1_500));
    await fetch(pixel, { headers: { "user-agent": READER } });
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-dashboard-"));
  await startLoadedRelay();
  await startOperatorOnTestCluster();
  const relayTarget = new URL(relayMetricsUrl).host;
  const operatorTarget = new URL(operatorMetricsUrl).host;
  await mkdir(join(dir, "prometheus"));
  prometheus = await startPrometheus(join(dir, "prometheus"), [
    {
      job: "marathon-relays",
      target: relayTarget,
      labels: { namespace: "mail", service: "marathon-relays", pod: "marathon-0", endpoint: "metrics" },
    },
    {
      job: "fleet-relayfleet-operator",
      target: operatorTarget,
      honorLabels: true,
      labels: {
        namespace: RELEASE_NAMESPACE,
        service: "fleet-relayfleet-operator",
        pod: "fleet-relayfleet-operator-0",
      },
    },
  ]);
  await until(async () => (await prometheus.query("up")).length === 2, "both targets scraped");
  loadStartedAt = Date.now() / 1000;
  await sendLoad();
  // A few more scrapes after the last event.
  await new Promise((r) => setTimeout(r, 3_000));
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  await operator?.stop();
  await store?.close();
  await server?.stop();
  await stopChild(relay);
  await peer?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function promtoolCheckMetrics(body: string): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = execFile("promtool", ["check", "metrics"], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      done({ code, output: stdout + stderr });
    });
    child.stdin?.end(body);
  });
}

const finite = (samples: Sample[]) =>
  samples.some((s) => (s.value ? Number.isFinite(Number(s.value[1])) : false));

describe("metrics of a live relay and operator", () => {
  it("pass promtool check metrics", async () => {
    for (const url of [relayMetricsUrl, operatorMetricsUrl]) {
      const body = await text(url);
      expect(body).toContain("relayfleet_");
      const check = await promtoolCheckMetrics(body);
      // prom-client's default collector exports three gauges named *_total; relayfleet's own names are clean.
      const findings = check.output
        .split("\n")
        .filter((line) => line.trim() !== "")
        .filter(
          (line) =>
            !/^relayfleet_process_nodejs_active_(handles|requests|resources)_total non-counter/.test(line),
        );
      expect(findings, url).toEqual([]);
    }
  });
});

describe("the Grafana dashboard against Prometheus", () => {
  const dashboard = loadDashboard();
  const variables = dashboard.templating.list;

  it("has a data source variable that every panel and query uses, and namespace, pool and account variables", () => {
    expect(variables.map((v) => `${v.name}:${v.type}`)).toEqual([
      "datasource:datasource",
      "namespace:query",
      "pool:query",
      "account:query",
    ]);
    expect(variables[0]?.query).toBe("prometheus");
    for (const panel of dashboard.panels) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      for (const target of panel.targets) expect(target.datasource, panel.title).toEqual(DATASOURCE);
    }
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const titles = dashboard.panels.map((p) => p.title);
    expect(titles).toEqual([
      "Accepted and delivered per second",
      "Deliveries by result",
      "Queue depth",
      "Oldest message waiting",
      "Delivery latency",
      "Blocked pairs",
      "Tracking events",
      "Relays: desired vs up",
      "Operator reconcile errors",
    ]);
    // Panels do not overlap on Grafana's 24-column grid.
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  it("lists the namespace, pool and accounts Prometheus has", async () => {
    const listed: Record<string, string[]> = {};
    for (const variable of variables.slice(1)) {
      const query = typeof variable.query === "string" ? variable.query : variable.query.query;
      const { match, label } = parseLabelValues(interpolate(query, CHOSEN, variables, RATE_INTERVAL));
      listed[variable.name] = applyVariableRegex(await prometheus.labelValues(label, match), variable.regex);
    }
    expect(listed).toEqual({ namespace: ["mail"], pool: ["marathon"], account: ["news", "shop"] });
  });

  it("answers every panel's queries with data, panel by panel", async () => {
    const report: string[] = [];
    const failures: string[] = [];
    const ranges: {
      panel: string;
      unit?: string;
      series: { legend: string; points: [number, number][] }[];
    }[] = [];
    const end = Date.now() / 1000;
    for (const panel of dashboard.panels) {
      const series: { legend: string; points: [number, number][] }[] = [];
      for (const target of panel.targets) {
        const expr = interpolate(target.expr, CHOSEN, variables, RATE_INTERVAL);
        expect(expr, "every variable interpolated").not.toMatch(/\$[a-z_]/);
        const instant = await prometheus.query(expr);
        const line = `${panel.title} [${target.refId}]: ${instant.length} series, ${instant
          .map((s) => `${legend(target.legendFormat, s.metric)}=${Number(s.value?.[1]).toPrecision(3)}`)
          .join(" ")}`;
        report.push(line);
        if (instant.length === 0 || !finite(instant)) failures.push(line);
        for (const s of await prometheus.queryRange(expr, Math.floor(loadStartedAt) - 5, Math.ceil(end), 1))
          series.push({
            legend: legend(target.legendFormat, s.metric),
            points: (s.values ?? []).map(([t, v]) => [t, Number(v)]),
          });
      }
      ranges.push({
        panel: panel.title,
        ...(panel.fieldConfig?.defaults?.unit ? { unit: panel.fieldConfig.defaults.unit } : {}),
        series,
      });
    }
    console.log(`panel-by-panel query check:\n  ${report.join("\n  ")}`);
    if (process.env.DASHBOARD_RESULTS)
      await writeFile(process.env.DASHBOARD_RESULTS, `${JSON.stringify({ ranges, report }, null, 1)}\n`);
    expect(failures).toEqual([]);
  });

  it("shows what the load did: both accounts, deferrals, the blocked pair, opens, one relay wanted and up", async () => {
    const q = async (expr: string) =>
      Object.fromEntries(
        (await prometheus.query(interpolate(expr, CHOSEN, variables, RATE_INTERVAL))).map((s) => [
          Object.values(s.metric).join(",") || "value",
          Number(s.value?.[1]),
        ]),
      );
    const sel = 'namespace=~"$namespace", service=~"($pool)-relays"';
    expect(await q(`sum by (account) (relayfleet_messages_accepted_total{${sel}})`)).toEqual({
      shop: 12,
      news: 5,
    });
    const results = await q(`sum by (result) (relayfleet_deliveries_total{${sel}})`);
    expect(results.delivered).toBe(12);
    expect(results.deferred).toBeGreaterThanOrEqual(4);
    expect(results.blocked).toBe(1);
    expect(await q(`max(relayfleet_blocked_pairs{${sel}})`)).toEqual({ value: 1 });
    expect((await q(`sum by (type) (relayfleet_tracking_events_total{${sel}})`)).open).toBe(12);
    expect(
      await q('sum by (pool) (relayfleet_operator_desired_replicas{namespace=~"$namespace", pool=~"$pool"})'),
    ).toEqual({
      marathon: 1,
    });
  });
});

const legend = (format: string | undefined, metric: Record<string, string>) =>
  (format ?? "").replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, name: string) => metric[name] ?? "") || "value";

describe("the chart's RBAC", () => {
  it("allows every API call the operator made while reconciling the example pool and route", async () => {
    // The operator ran as the chart's ServiceAccount, so the server's RBAC judged each call.
    const calls = requests.slice(operatorRequestsFrom).map((line) => {
      const [method = "", url = "", status = ""] = line.split(" ");
      const parsed = new URL(url, "https://x");
      return { info: requestInfo(method, parsed.pathname, parsed.searchParams), status };
    });
    const resources = new Set(
      calls
        .filter(({ info }) => info.resourceRequest)
        .map(({ info }) => (info.subresource ? `${info.resource}/${info.subresource}` : info.resource)),
    );
    for (const expected of [
      "leases",
      "relaypools",
      "senderroutes",
      "pods",
      "secrets",
      "configmaps",
      "statefulsets",
      "services",
      "poddisruptionbudgets",
      "servicemonitors",
      "relaypools/status",
      "senderroutes/status",
    ])
      expect(resources, `the operator touched ${expected}`).toContain(expected);
    const refused = calls
      .filter(({ status }) => status === "403")
      .map(
        ({ info }) =>
          `${info.verb} ${info.apiGroup || "core"}/${info.resource} in ${info.namespace || "(cluster)"}`,
      );
    expect(refused).toEqual([]);
  });
});
