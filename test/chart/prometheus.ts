/**
 * A private Prometheus (the Debian package's binary) for the dashboard test:
 * static scrape targets labelled as the Prometheus Operator labels
 * ServiceMonitor targets, a 1 s scrape interval, queries over its HTTP API.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "../support/free-port.js";

export interface ScrapeJob {
  job: string;
  target: string;
  labels: Record<string, string>;
  honorLabels?: boolean;
}

export interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface PrometheusServer {
  url: string;
  query(expr: string, time?: number): Promise<Sample[]>;
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<Sample[]>;
  labelValues(label: string, match: string): Promise<string[]>;
  output(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(dir: string, jobs: ScrapeJob[]): Promise<PrometheusServer> {
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
    scrape_configs: jobs.map((job) => ({
      job_name: job.job,
      honor_labels: job.honorLabels ?? false,
      static_configs: [{ targets: [job.target], labels: job.labels }],
    })),
  };
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(
    "prometheus",
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`prometheus not ready within 20 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const api = async <T>(path: string, params: Record<string, string>, method = "POST"): Promise<T> => {
    const form = new URLSearchParams(params).toString();
    const response =
      method === "GET"
        ? await fetch(`${url}${path}?${form}`)
        : await fetch(`${url}${path}`, {
            method,
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: form,
          });
    const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== "success")
      throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    async query(expr, time) {
      const data = await api<{ result: Sample[] }>("/api/v1/query", {
        query: expr,
        ...(time === undefined ? {} : { time: String(time) }),
      });
      return data.result;
    },
    async queryRange(expr, start, end, stepSeconds) {
      const data = await api<{ result: Sample[] }>("/api/v1/query_range", {
        query: expr,
        start: String(start),
        end: String(end),
        step: String(stepSeconds),
      });
      return data.result;
    },
    labelValues: (label, match) =>
      api<string[]>(`/api/v1/label/${label}/values`, { "match[]": match }, "GET"),
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}
