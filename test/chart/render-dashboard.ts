/**
 * Draws the dashboard's panels from the Prometheus range results that
 * dashboard.test.ts writes with DASHBOARD_RESULTS=FILE: one plot per panel,
 * laid out as the dashboard's gridPos, as SVG, then PNG through rsvg-convert
 * (Debian: librsvg2-bin). A picture of real query results, not of Grafana.
 *
 *   DASHBOARD_RESULTS=/tmp/panels.json npx vitest run test/chart/dashboard.test.ts
 *   npx tsx test/chart/render-dashboard.ts /tmp/panels.json docs/chart-dashboard.png
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { loadDashboard } from "./dashboard.js";

interface PanelResult {
  panel: string;
  unit?: string;
  series: { legend: string; points: [number, number][] }[];
}

const COLORS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0"];
const CELL_W = 46;
const CELL_H = 30;
const PAD = 12;

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function formatValue(value: number, unit: string | undefined): string {
  if (!Number.isFinite(value)) return "NaN";
  const abs = Math.abs(value);
  const short =
    abs >= 1000 ? `${(value / 1000).toFixed(1)}k` : abs >= 10 ? value.toFixed(0) : value.toFixed(2);
  if (unit === "s") return `${short}s`;
  if (unit === "ops") return `${short}/s`;
  return short;
}

interface TimeRange {
  t0: number;
  t1: number;
}

function plot(result: PanelResult, range: TimeRange, x: number, y: number, w: number, h: number): string {
  const out: string[] = [];
  out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="#181b1f" stroke="#2c3235"/>`);
  out.push(
    `<text x="${x + 10}" y="${y + 20}" fill="#d8d9da" font-size="14" font-weight="bold">${escapeXml(result.panel)}</text>`,
  );
  const legendRows = Math.ceil(result.series.length / 3);
  const area = { left: x + 60, top: y + 34, right: x + w - 14, bottom: y + h - 26 - legendRows * 16 };
  const points = result.series.flatMap((s) => s.points).filter(([, v]) => Number.isFinite(v));
  if (points.length === 0) {
    out.push(`<text x="${x + w / 2}" y="${y + h / 2}" fill="#e24d42" text-anchor="middle">no data</text>`);
    return out.join("\n");
  }
  const { t0, t1 } = range;
  const vMax = Math.max(...points.map(([, v]) => v), 0) || 1;
  const vMin = Math.min(...points.map(([, v]) => v), 0);
  const sx = (t: number) => area.left + ((t - t0) / (t1 - t0)) * (area.right - area.left);
  const sy = (v: number) => area.bottom - ((v - vMin) / (vMax - vMin || 1)) * (area.bottom - area.top);
  for (let i = 0; i <= 4; i++) {
    const v = vMin + ((vMax - vMin) * i) / 4;
    const gy = sy(v);
    out.push(`<line x1="${area.left}" y1="${gy}" x2="${area.right}" y2="${gy}" stroke="#2c3235"/>`);
    out.push(
      `<text x="${area.left - 6}" y="${gy + 4}" fill="#8e8e8e" font-size="10" text-anchor="end">${escapeXml(formatValue(v, result.unit))}</text>`,
    );
  }
  for (const [label, t] of [
    ["start", t0],
    [`+${Math.round(t1 - t0)}s`, t1],
  ] as const)
    out.push(
      `<text x="${sx(t)}" y="${area.bottom + 14}" fill="#8e8e8e" font-size="10" text-anchor="middle">${label}</text>`,
    );
  result.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length];
    const path = series.points
      .filter(([, v]) => Number.isFinite(v))
      .map(([t, v], j) => `${j === 0 ? "M" : "L"}${sx(t).toFixed(1)},${sy(v).toFixed(1)}`)
      .join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const lx = x + 14 + (i % 3) * ((w - 28) / 3);
    const ly = area.bottom + 30 + Math.floor(i / 3) * 16;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="12" height="4" fill="${color}"/>`);
    out.push(
      `<text x="${lx + 16}" y="${ly - 3}" fill="#ccccdc" font-size="11">${escapeXml(series.legend)}</text>`,
    );
  });
  return out.join("\n");
}

export function dashboardSvg(results: PanelResult[]): string {
  const dashboard = loadDashboard();
  const byTitle = new Map(results.map((r) => [r.panel, r]));
  // One time axis for every panel, as on a dashboard.
  const times = results.flatMap((r) => r.series.flatMap((s) => s.points.map(([t]) => t)));
  const range = { t0: Math.min(...times), t1: Math.max(...times, Math.min(...times) + 1) };
  const rows = Math.max(...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const width = 24 * CELL_W + 2 * PAD;
  const height = rows * CELL_H + 2 * PAD + 40;
  const body = dashboard.panels.map((panel) => {
    const g = panel.gridPos;
    const result = byTitle.get(panel.title) ?? { panel: panel.title, series: [] };
    return plot(
      result,
      range,
      PAD + g.x * CELL_W + 4,
      PAD + 40 + g.y * CELL_H + 4,
      g.w * CELL_W - 8,
      g.h * CELL_H - 8,
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="100%" height="100%" fill="#111217"/>`,
    `<text x="${PAD + 4}" y="${PAD + 22}" fill="#d8d9da" font-size="18">${escapeXml(dashboard.title)} · mail/marathon · account All · query_range from test/chart/dashboard.test.ts</text>`,
    ...body,
    "</svg>",
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: tsx test/chart/render-dashboard.ts RESULTS.json OUT.png");
    process.exit(2);
  }
  const { ranges } = JSON.parse(readFileSync(input, "utf8")) as { ranges: PanelResult[] };
  const svgFile = output.replace(/\.png$/, ".svg");
  writeFileSync(svgFile, dashboardSvg(ranges));
  execFileSync("rsvg-convert", ["-o", output, svgFile]);
  console.log(`wrote ${output} (and ${svgFile})`);
}
