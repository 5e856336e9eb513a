/**
 * What the chart tests share: where the chart is, `helm template` with value
 * sets, and the rendered objects parsed. helm and kubectl are the real ones
 * (scripts/unpack-kube-tools.mjs); a kubeconfig is only needed for install.
 */
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { ToolResult } from "../kube/kube-tools.js";
import { kubeToolsDir } from "../kube/kube-tools.js";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const CHART = resolve(REPO_ROOT, "charts/relayfleet");
export const FIXTURES = resolve(import.meta.dirname, "fixtures");

/** The monitoring CRDs' API versions, for rendering as if the Prometheus Operator were installed. */
export const MONITORING_API_VERSIONS = [
  "--api-versions",
  "monitoring.coreos.com/v1/ServiceMonitor",
  "--api-versions",
  "monitoring.coreos.com/v1/PrometheusRule",
];

/** Value sets that between them turn every toggle on and off. */
export const VALUE_SETS: Record<string, string[]> = {
  defaults: [],
  everythingOn: [
    "--set",
    "examples.enabled=true",
    "--set",
    "monitoring.serviceMonitor.labels.release=kube-prometheus-stack",
    "--set",
    "monitoring.prometheusRule.labels.release=kube-prometheus-stack",
    "--set",
    "monitoring.prometheusRule.alertLabels.team=mail",
    "--set",
    "monitoring.prometheusRule.runbookBaseUrl=https://runbooks.example/relayfleet",
    "--set",
    "monitoring.dashboard.annotations.grafana_folder=Mail",
    "--set",
    "operator.podLabels.tier=control",
    "--set",
    "serviceAccount.annotations.owner=mail-team",
    "--set",
    "imagePullSecrets[0].name=registry",
  ],
  externalRedisUrl: [
    "--set",
    "redis.install=false",
    "--set",
    "redis.url=redis://redis.mail.svc:6379/0",
    "--set",
    "examples.enabled=true",
    "--set",
    "examples.namespace=mail",
  ],
  existingSecret: [
    "--set",
    "redis.install=false",
    "--set",
    "redis.existingSecret.name=fleet-redis",
    "--set",
    "redis.cluster=true",
    "--set",
    "examples.enabled=true",
  ],
  everythingOff: [
    "--set",
    "serviceAccount.create=false",
    "--set",
    "serviceAccount.name=relayfleet-operator",
    "--set",
    "rbac.create=false",
    "--set",
    "operator.replicas=1",
    "--set",
    "operator.podDisruptionBudget.enabled=false",
    "--set",
    "redis.persistence.enabled=false",
    "--set",
    "monitoring.serviceMonitor.enabled=false",
    "--set",
    "monitoring.prometheusRule.enabled=false",
    "--set",
    "monitoring.dashboard.enabled=false",
  ],
};

/** `timeoutMs`: how long helm may run before it is killed (`helm test --timeout` needs longer). */
export function helm(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<ToolResult> {
  return new Promise((done) => {
    execFile(
      resolve(kubeToolsDir(), "helm"),
      args,
      { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

export interface KubeDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function parseDocs(text: string): KubeDoc[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
      return doc.toJS() as KubeDoc | null;
    })
    .filter((doc): doc is KubeDoc => doc !== null);
}

/** `helm template` of the chart; throws with helm's stderr if it fails. */
export async function renderChart(
  values: string[],
  options: { release?: string; namespace?: string; monitoring?: boolean } = {},
): Promise<KubeDoc[]> {
  const result = await helm([
    "template",
    options.release ?? "fleet",
    CHART,
    "--namespace",
    options.namespace ?? "relayfleet-system",
    ...(options.monitoring === false ? [] : MONITORING_API_VERSIONS),
    ...values,
  ]);
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return parseDocs(result.stdout);
}

export function findDoc(docs: KubeDoc[], kind: string, name?: string): KubeDoc {
  const doc = docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (!doc) throw new Error(`no ${kind}${name ? ` ${name}` : ""} rendered`);
  return doc;
}
