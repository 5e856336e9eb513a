/**
 * The Helm chart with real helm 4 and kubectl against the test API server:
 * lint, template with every toggle, the rendered objects applied (strict field
 * validation, so a misspelt field fails), install, upgrade, a refused upgrade,
 * uninstall; the values schema's messages; chart crds/ = top-level crds/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type KubeClients, kubeClients } from "../kube/kube-tools.js";
import { startTestApiServer, type TestApiServer } from "../kube/server.js";
import { CHART, FIXTURES, findDoc, helm, REPO_ROOT, renderChart, VALUE_SETS } from "./chart.js";

let server: TestApiServer;
let kube: KubeClients;
let dir: string;

const envFor = (home: string): NodeJS.ProcessEnv => ({
  HOME: home,
  HELM_CACHE_HOME: join(home, "helm-cache"),
  HELM_CONFIG_HOME: join(home, "helm-config"),
  HELM_DATA_HOME: join(home, "helm-data"),
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-chart-"));
  server = await startTestApiServer({ kubeconfigPath: join(dir, "kubeconfig") });
  kube = kubeClients(join(dir, "kubeconfig"), dir);
  // The Prometheus Operator's CRDs, so helm sees monitoring.coreos.com/v1 as a real cluster with it would.
  const monitoring = await kube.kubectl([
    "apply",
    "--server-side",
    "-f",
    join(FIXTURES, "monitoring-crds.yaml"),
  ]);
  expect(monitoring.stderr).toBe("");
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const kindsOf = (docs: { kind: string; metadata: { name: string } }[]) =>
  docs.map((d) => `${d.kind}/${d.metadata.name}`).sort();

describe("the chart's files", () => {
  it("carries exactly the top-level crds/ (Helm installs crds/ from the chart, so they must not drift)", () => {
    const top = readdirSync(join(REPO_ROOT, "crds")).filter((f) => f.endsWith(".yaml"));
    const chart = readdirSync(join(CHART, "crds"));
    expect(chart.sort()).toEqual(top.sort());
    for (const file of top)
      expect(readFileSync(join(CHART, "crds", file), "utf8"), file).toBe(
        readFileSync(join(REPO_ROOT, "crds", file), "utf8"),
      );
  });

  it("lists every value in its README", () => {
    const readme = readFileSync(join(CHART, "README.md"), "utf8");
    const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as SchemaNode;
    const missing = leafPaths(schema).filter((path) => !readme.includes(`\`${path}\``));
    expect(missing).toEqual([]);
  });
});

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
}

function leafPaths(node: SchemaNode, prefix = ""): string[] {
  if (!node.properties) return prefix ? [prefix] : [];
  return Object.entries(node.properties).flatMap(([key, child]) =>
    key === "global" ? [] : leafPaths(child, prefix ? `${prefix}.${key}` : key),
  );
}

describe("helm lint and template", () => {
  it.each(Object.entries(VALUE_SETS))("lints --strict cleanly with %s", async (_name, values) => {
    const lint = await helm(["lint", "--strict", CHART, ...values]);
    expect(lint.stdout + lint.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(lint.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it("renders the operator, RBAC, Redis, dashboard and (with the monitoring API) ServiceMonitor and alerts by default", async () => {
    const docs = await renderChart(VALUE_SETS.defaults ?? []);
    expect(kindsOf(docs)).toEqual([
      "ClusterRole/fleet-relayfleet-operator",
      "ClusterRoleBinding/fleet-relayfleet-operator",
      "ConfigMap/fleet-relayfleet-dashboard",
      "Deployment/fleet-relayfleet-operator",
      "NetworkPolicy/fleet-relayfleet-redis",
      "PodDisruptionBudget/fleet-relayfleet-operator",
      "PrometheusRule/fleet-relayfleet",
      "Role/fleet-relayfleet-leader-election",
      "Role/fleet-relayfleet-operator-secrets",
      "RoleBinding/fleet-relayfleet-leader-election",
      "RoleBinding/fleet-relayfleet-operator-secrets",
      "Secret/fleet-relayfleet-redis",
      "Service/fleet-relayfleet-operator",
      "Service/fleet-relayfleet-redis",
      "ServiceAccount/fleet-relayfleet",
      "ServiceMonitor/fleet-relayfleet-operator",
      "StatefulSet/fleet-relayfleet-redis",
    ]);
    const operator = findDoc(docs, "Deployment") as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: {
            containers: { image: string; args: string[]; env: { name: string; valueFrom?: unknown }[] }[];
          };
        };
      };
    };
    expect(operator.spec.replicas).toBe(2);
    const container = operator.spec.template.spec.containers[0];
    expect(container?.image).toBe("relayfleet:0.1.0");
    expect(container?.args[0]).toBe("operator");
    expect(container?.env.map((e) => e.name)).toEqual(["POD_NAMESPACE", "REDIS_URL"]);
    // The bundled Redis's URL carries its password: the operator reads it from the Secret.
    expect(container?.env[1]?.valueFrom).toEqual({
      secretKeyRef: { name: "fleet-relayfleet-redis", key: "url" },
    });
    const dashboard = findDoc(docs, "ConfigMap") as unknown as {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(dashboard.metadata.labels.grafana_dashboard).toBe("1");
    expect(JSON.parse(dashboard.data["relayfleet.json"] ?? "").uid).toBe("relayfleet");
  });

  it("leaves the ServiceMonitor and PrometheusRule out when the cluster does not serve monitoring.coreos.com", async () => {
    const docs = await renderChart([], { monitoring: false });
    expect(docs.map((d) => d.kind)).not.toContain("ServiceMonitor");
    expect(docs.map((d) => d.kind)).not.toContain("PrometheusRule");
  });

  it("puts the user's labels on the ServiceMonitor and PrometheusRule (kube-prometheus-stack selects by release)", async () => {
    const docs = await renderChart(VALUE_SETS.everythingOn ?? []);
    expect(findDoc(docs, "ServiceMonitor").metadata.labels?.release).toBe("kube-prometheus-stack");
    expect(findDoc(docs, "PrometheusRule").metadata.labels?.release).toBe("kube-prometheus-stack");
    // The example pool's relays get the same label on the ServiceMonitor the operator makes for them.
    const pool = findDoc(docs, "RelayPool") as unknown as {
      spec: { serviceMonitorLabels?: Record<string, string> };
    };
    expect(pool.spec.serviceMonitorLabels).toEqual({ release: "kube-prometheus-stack" });
    const rule = findDoc(docs, "PrometheusRule") as unknown as {
      spec: {
        groups: { rules: { labels: Record<string, string>; annotations: Record<string, string> }[] }[];
      };
    };
    for (const r of rule.spec.groups.flatMap((g) => g.rules)) {
      expect(r.labels.team).toBe("mail");
      expect(r.annotations.runbook_url).toMatch(/^https:\/\/runbooks\.example\/relayfleet#relayfleet[a-z]+$/);
      expect(r.annotations.runbook?.length).toBeGreaterThan(80);
    }
  });

  it("tells the operator and the example pool when the external Redis is a Cluster", async () => {
    const docs = await renderChart(VALUE_SETS.existingSecret ?? []);
    const operator = findDoc(docs, "Deployment") as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    };
    expect(operator.spec.template.spec.containers[0]?.env).toContainEqual({
      name: "REDIS_CLUSTER",
      value: "true",
    });
    const pool = findDoc(docs, "RelayPool") as unknown as { spec: { redis: unknown } };
    expect(pool.spec.redis).toEqual({ secretRef: { name: "fleet-redis", key: "url" }, cluster: true });
    const single = await renderChart(VALUE_SETS.externalRedisUrl ?? []);
    expect(JSON.stringify(single)).not.toContain("REDIS_CLUSTER");
  });

  it("keeps an external Redis URL in a Secret, never in a spec", async () => {
    const docs = await renderChart(VALUE_SETS.externalRedisUrl ?? []);
    const text = JSON.stringify(docs.filter((d) => d.kind !== "Secret"));
    expect(text).not.toContain("redis://redis.mail.svc");
    const secrets = docs.filter((d) => d.kind === "Secret");
    expect(secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort()).toEqual([
      "mail/fleet-relayfleet-redis-url",
      "relayfleet-system/fleet-relayfleet-redis-url",
    ]);
    const pool = findDoc(docs, "RelayPool") as unknown as { spec: { redis: unknown; senderRoute: string } };
    expect(pool.spec).toMatchObject({
      redis: { secretRef: { name: "fleet-relayfleet-redis-url", key: "url" } },
      senderRoute: "default",
    });
  });

  it.each(Object.entries(VALUE_SETS))(
    "renders objects the API server accepts with strict field validation: %s",
    async (name, values) => {
      const namespace = `ns-${name.toLowerCase()}`;
      const docs = await renderChart(values, { release: name.toLowerCase(), namespace });
      const namespaces = new Set([namespace, ...docs.map((d) => d.metadata.namespace ?? namespace)]);
      for (const ns of namespaces) await kube.kubectl(["create", "namespace", ns]);
      // The CRDs first, as helm installs crds/ before the templates.
      const crds = await kube.kubectl(["apply", "--server-side", "-f", join(CHART, "crds")]);
      expect(crds.stderr).toBe("");
      const text = docs.map((d) => JSON.stringify(d)).join("\n---\n");
      const applied = await kube.kubectl(
        ["apply", "--server-side", "--validate=strict", "--field-manager=chart-test", "-f", "-"],
        text,
      );
      expect(applied.stderr).toBe("");
      expect(applied.stdout.trim().split("\n")).toHaveLength(docs.length);
    },
  );
});

describe("values.schema.json", () => {
  it.each([
    [["--set", "operator.replicas=0"], "at '/operator/replicas': minimum: got 0, want 1"],
    [
      ["--set", "image.pullPolicy=Sometimes"],
      "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
    ],
    [["--set", "redis.url=http://cache:6379"], "at '/redis/url': 'http://cache:6379' does not match pattern"],
    [["--set", "operator.replica=3"], "at '/operator': additional properties 'replica' not allowed"],
    [
      ["--set-json", "monitoring.prometheusRule.thresholds.failureRatio=1.5"],
      "at '/monitoring/prometheusRule/thresholds/failureRatio': maximum: got 1.5, want 1",
    ],
    // --set passes 0.5 as a string: a numeric string is taken, anything else named.
    [
      ["--set", "monitoring.prometheusRule.thresholds.failureRatio=half"],
      "at '/monitoring/prometheusRule/thresholds/failureRatio': 'half' does not match pattern",
    ],
    [
      ["--set", "monitoring.serviceMonitor.interval=often"],
      "at '/monitoring/serviceMonitor/interval': 'often' does not match pattern",
    ],
    [
      ["--set", "monitoring.dashboard.labels.grafana_dashboard=1"],
      "at '/monitoring/dashboard/labels/grafana_dashboard': got number, want string",
    ],
    [
      ["--set", "redis.install=false"],
      "redis: with redis.install=false set redis.url (redis://...) or redis.existingSecret.name",
    ],
    [
      ["--set", "redis.url=redis://cache:6379"],
      "redis: redis.install=true runs a Redis in this release; unset redis.url",
    ],
    [
      [
        "--set",
        "redis.install=false",
        "--set",
        "redis.url=redis://a:6379",
        "--set",
        "redis.existingSecret.name=s",
      ],
      "redis: set redis.url or redis.existingSecret.name, not both",
    ],
  ])("refuses %j with a message naming the value", async (values, message) => {
    const result = await helm(["template", "fleet", CHART, ...values]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
  });
});

describe("helm install into the test API server", () => {
  it("installs with the monitoring CRDs present, upgrades, refuses a bad upgrade, and uninstalls (CRDs stay)", async () => {
    // A server of its own: helm must be the first to apply crds/ (another field manager's copy would conflict).
    const own = await startTestApiServer({ kubeconfigPath: join(dir, "install-kubeconfig") });
    onTestFinished(() => own.stop());
    const kube = kubeClients(join(dir, "install-kubeconfig"), join(dir, "install"));
    const kubeEnv = { ...envFor(join(dir, "install")), KUBECONFIG: join(dir, "install-kubeconfig") };
    await kube.kubectl(["apply", "--server-side", "-f", join(FIXTURES, "monitoring-crds.yaml")]);
    const ns = "relayfleet-system";
    await kube.kubectl(["create", "namespace", ns]);
    // Enforced and warned "restricted": helm's empty stderr below means no pod template broke it.
    const labelled = await kube.kubectl([
      "label",
      "namespace",
      ns,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/warn=restricted",
    ]);
    expect(labelled.stderr).toBe("");
    const install = await helm(
      [
        "install",
        "fleet",
        CHART,
        "-n",
        ns,
        "--set",
        "examples.enabled=true",
        "--set",
        "monitoring.serviceMonitor.labels.release=kps",
      ],
      kubeEnv,
    );
    expect(install.stderr).toBe("");
    expect(install.stdout).toContain("STATUS: deployed");
    expect(install.stdout).toContain("ServiceMonitor fleet-relayfleet-operator");
    const get = async (args: string[]) => (await kube.kubectl(["-n", ns, "get", ...args])).stdout;
    expect(await get(["crd", "relaypools.relayfleet.io", "-o", "name"])).toContain(
      "relaypools.relayfleet.io",
    );
    expect(await get(["deployment", "fleet-relayfleet-operator", "-o", "jsonpath={.spec.replicas}"])).toBe(
      "2",
    );
    expect(
      await get(["servicemonitor", "fleet-relayfleet-operator", "-o", "jsonpath={.metadata.labels.release}"]),
    ).toBe("kps");
    expect(
      await get(["prometheusrule", "fleet-relayfleet", "-o", "jsonpath={.spec.groups[*].rules[*].alert}"]),
    ).toBe(
      "RelayfleetQueueBacklogGrowing RelayfleetOldestMessageTooOld RelayfleetDeliveryFailureRatioHigh RelayfleetRelayDown RelayfleetSenderBlocked RelayfleetOperatorNoLeader RelayfleetOperatorReconcileFailing",
    );
    // The example pool as the API server defaulted it from the CRD.
    expect(
      await get([
        "relaypool",
        "example",
        "-o",
        "jsonpath={.spec.redis.url} {.spec.workload} {.spec.senderRoute}",
      ]),
    ).toBe(" StatefulSet default");
    // The password Secret: made once, the same after an upgrade (lookup), and the pool's URL Secret.
    const secret = async (field: string) =>
      Buffer.from(
        await get(["secret", "fleet-relayfleet-redis", "-o", `jsonpath={.data.${field}}`]),
        "base64",
      ).toString();
    const password = await secret("password");
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(await secret("url")).toBe(
      `redis://:${password}@fleet-relayfleet-redis.relayfleet-system.svc:6379/0`,
    );
    expect(
      await get([
        "relaypool",
        "example",
        "-o",
        "jsonpath={.spec.redis.secretRef.name}/{.spec.redis.secretRef.key}",
      ]),
    ).toBe("fleet-relayfleet-redis/url");

    const upgrade = await helm(
      [
        "upgrade",
        "fleet",
        CHART,
        "-n",
        ns,
        "--reuse-values",
        "--set",
        "operator.replicas=3",
        "--set",
        "monitoring.prometheusRule.thresholds.backlogMessages=5000",
        "--set",
        "examples.relayPool.spec.replicas=2",
      ],
      kubeEnv,
    );
    expect(upgrade.stderr).toBe("");
    expect(upgrade.stdout).toContain("REVISION: 2");
    expect(await get(["deployment", "fleet-relayfleet-operator", "-o", "jsonpath={.spec.replicas}"])).toBe(
      "3",
    );
    expect(
      await get(["prometheusrule", "fleet-relayfleet", "-o", "jsonpath={.spec.groups[0].rules[0].expr}"]),
    ).toContain("> 5000");
    expect(await get(["relaypool", "example", "-o", "jsonpath={.spec.replicas}"])).toBe("2");
    expect(await secret("password")).toBe(password);

    const bad = await helm(
      ["upgrade", "fleet", CHART, "-n", ns, "--reuse-values", "--set", "operator.replicas=0"],
      kubeEnv,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("at '/operator/replicas': minimum: got 0, want 1");
    const history = JSON.parse(
      (await helm(["history", "fleet", "-n", ns, "-o", "json"], kubeEnv)).stdout,
    ) as {
      revision: number;
      status: string;
    }[];
    expect(history.map((h) => `${h.revision} ${h.status}`)).toEqual(["1 superseded", "2 deployed"]);

    const uninstall = await helm(["uninstall", "fleet", "-n", ns], kubeEnv);
    expect(uninstall.stdout).toContain('release "fleet" uninstalled');
    expect(await get(["deployments,services,configmaps,relaypools,prometheusrules", "-o", "name"])).toBe("");
    expect(await get(["crd", "relaypools.relayfleet.io", "senderroutes.relayfleet.io", "-o", "name"])).toBe(
      "customresourcedefinition.apiextensions.k8s.io/relaypools.relayfleet.io\ncustomresourcedefinition.apiextensions.k8s.io/senderroutes.relayfleet.io\n",
    );
  });
});
