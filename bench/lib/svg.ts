/** Two small SVG chart kinds for BENCHMARKS.md (no plotting dependency). Pure. */

const COLORS = ["#7a7a7a", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"];
const WIDTH = 760;
const HEIGHT = 380;
const MARGIN = { top: 40, right: 20, bottom: 70, left: 70 };

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A "nice" axis maximum and tick step for values up to `max`. */
function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  return { top: Math.ceil(max / step) * step, step };
}

function frame(title: string, yLabel: string, top: number, step: number, body: string[], legend: string[]) {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number) => MARGIN.top + plotHeight - (v / top) * plotHeight;
  const ticks: string[] = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    ticks.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toFixed(2)).toLocaleString("en-US")}</text>`,
    );
  }
  const legendItems = legend.map(
    (label, i) =>
      `<rect x="${MARGIN.left + i * 190}" y="${HEIGHT - 22}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>` +
      `<text x="${MARGIN.left + i * 190 + 18}" y="${HEIGHT - 12}">${escapeXml(label)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    ...ticks,
    `<text transform="translate(16 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    ...body,
    ...legendItems,
    "</svg>",
    "",
  ].join("\n");
}

export interface Bar {
  value: number;
  min?: number;
  max?: number;
}

/** Grouped bars with optional min–max whiskers; `series` names the bars inside each group. */
export function barChart(
  title: string,
  yLabel: string,
  series: string[],
  groups: Array<{ label: string; bars: Bar[] }>,
): string {
  const highest = Math.max(...groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.max ?? 0))));
  const { top, step } = niceScale(highest);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number) => MARGIN.top + plotHeight - (Math.max(0, v) / top) * plotHeight;
  const groupWidth = plotWidth / Math.max(1, groups.length);
  const barWidth = (groupWidth * 0.7) / Math.max(1, series.length);
  const body: string[] = [];
  groups.forEach((group, g) => {
    const x0 = MARGIN.left + g * groupWidth + groupWidth * 0.15;
    group.bars.forEach((bar, b) => {
      const x = x0 + b * barWidth;
      if (!Number.isFinite(bar.value)) return;
      body.push(
        `<rect x="${x}" y="${y(bar.value)}" width="${barWidth - 2}" height="${y(0) - y(bar.value)}" fill="${COLORS[b % COLORS.length]}"/>`,
        `<text x="${x + barWidth / 2 - 1}" y="${y(bar.value) - 4}" text-anchor="middle" font-size="10">${Math.round(bar.value).toLocaleString("en-US")}</text>`,
      );
      if (bar.min !== undefined && bar.max !== undefined && bar.max > bar.min) {
        const cx = x + barWidth / 2 - 1;
        body.push(`<line x1="${cx}" x2="${cx}" y1="${y(bar.min)}" y2="${y(bar.max)}" stroke="black"/>`);
      }
    });
    body.push(
      `<text x="${MARGIN.left + g * groupWidth + groupWidth / 2}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle">${escapeXml(group.label)}</text>`,
    );
  });
  return frame(title, yLabel, top, step, body, series);
}

/** Lines over a shared x axis (seconds), with labelled vertical markers. */
export function lineChart(
  title: string,
  yLabel: string,
  xLabel: string,
  series: Array<{ label: string; points: Array<[number, number]>; dashed?: boolean }>,
  markers: Array<{ x: number; label: string }> = [],
): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xMax = Math.max(1, ...xs);
  const { top, step } = niceScale(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v: number) => MARGIN.left + (v / xMax) * plotWidth;
  const y = (v: number) => MARGIN.top + plotHeight - (Math.max(0, v) / top) * plotHeight;
  const body: string[] = series.map(
    (s, i) =>
      `<polyline fill="none" stroke="${COLORS[(i + 1) % COLORS.length]}" stroke-width="${s.dashed ? 2.5 : 1.5}"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${s.points
        .filter((p) => Number.isFinite(p[1]))
        .map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
        .join(" ")}"/>`,
  );
  const xStep = niceScale(xMax).step;
  for (let v = 0; v <= xMax; v += xStep)
    body.push(`<text x="${x(v)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${v}</text>`);
  body.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - MARGIN.bottom + 34}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
  );
  // Labels step down the plot so close markers stay readable; past the middle they end at their line.
  markers.forEach((marker, i) => {
    const right = x(marker.x) > MARGIN.left + plotWidth / 2;
    body.push(
      `<line x1="${x(marker.x)}" x2="${x(marker.x)}" y1="${MARGIN.top}" y2="${y(0)}" stroke="#d62728" stroke-dasharray="4 3"/>`,
      `<text x="${x(marker.x) + (right ? -4 : 4)}" y="${MARGIN.top + 12 + (i % 6) * 14}" fill="#d62728"${right ? ' text-anchor="end"' : ""}>${escapeXml(marker.label)}</text>`,
    );
  });
  // Legend colours follow the lines (offset by one: colour 0 is kept for Postfix in bar charts).
  const shifted = [...series.map((s) => s.label)];
  return frame(title, yLabel, top, step, body, []).replace(
    "</svg>",
    `${shifted
      .map(
        (label, i) =>
          `<rect x="${MARGIN.left + i * 190}" y="${HEIGHT - 22}" width="12" height="12" fill="${COLORS[(i + 1) % COLORS.length]}"/><text x="${MARGIN.left + i * 190 + 18}" y="${HEIGHT - 12}">${escapeXml(label)}</text>`,
      )
      .join("\n")}\n</svg>`,
  );
}
