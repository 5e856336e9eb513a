/**
 * The chart's alerts as Prometheus sees them: the rendered PrometheusRule's
 * spec is a rule file; `promtool check rules` parses every expression and
 * annotation template, and `promtool test rules` runs alerts-unit-tests.yaml,
 * where each alert fires in one case and stays quiet in another.
 */
import { execFile } from "node:child_process";
import { copyFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { tempDir } from "../support/temp-dir.js";
import { findDoc, renderChart, VALUE_SETS } from "./chart.js";

interface Rule {
  alert: string;
  expr: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
}
interface RuleSpec {
  groups: { name: string; rules: Rule[] }[];
}

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    execFile("promtool", args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      done({ code, output: stdout + stderr });
    });
  });
}

async function renderedRules(values: string[]): Promise<RuleSpec> {
  const docs = await renderChart(values, { namespace: "relayfleet-system" });
  return (findDoc(docs, "PrometheusRule") as unknown as { spec: RuleSpec }).spec;
}

const ALERTS = [
  "RelayfleetQueueBacklogGrowing",
  "RelayfleetOldestMessageTooOld",
  "RelayfleetDeliveryFailureRatioHigh",
  "RelayfleetRelayDown",
  "RelayfleetSenderBlocked",
  "RelayfleetOperatorNoLeader",
  "RelayfleetOperatorReconcileFailing",
];

describe("the PrometheusRule alerts", () => {
  it.each([
    ["defaults", VALUE_SETS.defaults ?? []],
    ["every option", VALUE_SETS.everythingOn ?? []],
  ])("pass promtool check rules (%s)", async (_name, values) => {
    const dir = await tempDir();
    const spec = await renderedRules(values);
    expect(spec.groups.flatMap((g) => g.rules.map((r) => r.alert))).toEqual(ALERTS);
    await writeFile(join(dir, "rules.yaml"), stringify(spec));
    const check = await promtool(["check", "rules", join(dir, "rules.yaml")]);
    expect(check.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(check.code).toBe(0);
  });

  it("each has a runbook, a summary and a severity", async () => {
    const spec = await renderedRules([]);
    for (const rule of spec.groups.flatMap((g) => g.rules)) {
      expect(["warning", "critical"], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(rule.annotations.runbook?.length, rule.alert).toBeGreaterThan(100);
      expect(rule.annotations.runbook_url, rule.alert).toBeUndefined();
    }
  });

  it("pass their promtool unit tests (each alert fires, and stays quiet where it should)", async () => {
    const dir = await tempDir();
    const spec = await renderedRules([]);
    // Firing depends on expr, for and labels; the long runbook text is checked above.
    for (const rule of spec.groups.flatMap((g) => g.rules)) {
      delete rule.annotations.runbook;
      delete rule.annotations.description;
    }
    await writeFile(join(dir, "rules.yaml"), stringify(spec));
    await copyFile(join(import.meta.dirname, "alerts-unit-tests.yaml"), join(dir, "tests.yaml"));
    const result = await promtool(["test", "rules", join(dir, "tests.yaml")]);
    expect(result.output).toContain("SUCCESS");
    expect(result.code).toBe(0);
  });

  it("have a unit test for every alert", async () => {
    const { readFile } = await import("node:fs/promises");
    const tests = await readFile(join(import.meta.dirname, "alerts-unit-tests.yaml"), "utf8");
    for (const alert of ALERTS)
      expect(tests, alert).toContain(`alertname: ${alert}\n        exp_alerts:\n          -`);
  });
});
