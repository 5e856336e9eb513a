/**
 * The Grafana dashboard as data: its panels' queries, and Grafana's variable
 * interpolation for a Prometheus data source (multi-value variables become
 * regex alternations), so tests run exactly what Grafana would send.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CHART } from "./chart.js";

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  fieldConfig?: { defaults?: { unit?: string } };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: DashboardTarget[];
}

export interface DashboardVariable {
  name: string;
  type: string;
  query: string | { query: string };
  regex?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: DashboardVariable[] };
}

export const DASHBOARD_FILE = join(CHART, "dashboards", "relayfleet.json");

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
}

const escapeRegex = (value: string) => value.replace(/[\\^$*+?.()|[\]{}]/g, "\\$&");

/**
 * Grafana's Prometheus formatting: one value is regex-escaped, several become
 * (a|b), "All" becomes the variable's allValue; $__rate_interval is given.
 */
export function interpolate(
  expr: string,
  values: Readonly<Record<string, readonly string[] | "All">>,
  variables: DashboardVariable[],
  rateInterval: string,
): string {
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? "";
      if (name === "__rate_interval") return rateInterval;
      const chosen = values[name];
      if (chosen === undefined) return whole;
      if (chosen === "All") {
        const allValue = variables.find((v) => v.name === name)?.allValue;
        if (allValue === undefined) throw new Error(`variable ${name} has no allValue`);
        return allValue;
      }
      const escaped = chosen.map(escapeRegex);
      return escaped.length === 1 ? (escaped[0] ?? "") : `(${escaped.join("|")})`;
    },
  );
}

/** Grafana's label_values(metric{...}, label) variable query, split into its parts. */
export function parseLabelValues(query: string): { match: string; label: string } {
  const found = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  if (!found?.[1] || !found[2]) throw new Error(`not a label_values query: ${query}`);
  return { match: found[1], label: found[2] };
}

/** A variable's regex (Grafana's /.../ form) applied to label values: the capture group if any. */
export function applyVariableRegex(values: string[], regex: string | undefined): string[] {
  if (!regex) return values;
  const source = /^\/(.*)\/([a-z]*)$/.exec(regex);
  const pattern = new RegExp(source?.[1] ?? regex, source?.[2] ?? "");
  return values.flatMap((value) => {
    const match = pattern.exec(value);
    return match ? [match[1] ?? match[0]] : [];
  });
}
