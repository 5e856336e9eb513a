/// <reference lib="dom" />
/** Small SVG charts; each has a title and description, and the page also shows the numbers as a table. */
import { h, s } from "./dom.js";

export interface Series {
  name: string;
  values: number[];
  /** Drawn dashed: counted apart (bot opens). */
  dashed?: boolean;
}

const W = 640;
const H = 220;
const PAD = { left: 40, right: 10, top: 10, bottom: 28 };

/** Nice upper bound for the y axis: 1, 2 or 5 times a power of ten. */
export function axisMax(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

export function lineChart(title: string, labels: string[], series: Series[]): HTMLElement {
  const top = axisMax(Math.max(0, ...series.flatMap((x) => x.values)));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (labels.length < 2 ? innerW / 2 : (i * innerW) / (labels.length - 1));
  const y = (v: number) => PAD.top + innerH - (v / top) * innerH;
  const id = `c${Math.random().toString(36).slice(2, 8)}`;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`, class: "chart" },
    s("title", { id: `${id}-t` }, title),
    s("desc", { id: `${id}-d` }, `${series.map((x) => x.name).join(", ")} over ${labels.length} periods`),
    s("line", { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), class: "axis" }),
    s("text", { x: PAD.left - 4, y: y(top) + 4, "text-anchor": "end", class: "tick" }, top),
    s("text", { x: PAD.left - 4, y: y(0), "text-anchor": "end", class: "tick" }, 0),
    ...labels.map((label, i) =>
      i % Math.ceil(labels.length / 8) === 0
        ? s("text", { x: x(i), y: H - 8, "text-anchor": "middle", class: "tick" }, label)
        : null,
    ),
    ...series.map((line, n) =>
      s("polyline", {
        class: `series s${n}${line.dashed ? " dashed" : ""}`,
        fill: "none",
        points: line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
      }),
    ),
  );
  const legend = h(
    "ul",
    { class: "legend" },
    ...series.map((line, n) =>
      h("li", {}, h("span", { class: `key s${n}${line.dashed ? " dashed" : ""}` }), line.name),
    ),
  );
  return h("figure", {}, svg, legend);
}

export function barChart(title: string, rows: { label: string; value: number }[]): HTMLElement {
  const top = axisMax(Math.max(0, ...rows.map((r) => r.value)));
  const bar = 18;
  const height = Math.max(1, rows.length) * (bar + 6) + 6;
  const labelW = 120;
  return h(
    "figure",
    {},
    s(
      "svg",
      { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": title, class: "chart bars" },
      s("title", {}, title),
      ...rows.flatMap((r, i) => {
        const yPos = 6 + i * (bar + 6);
        const width = ((W - labelW - 60) * r.value) / top;
        return [
          s("text", { x: labelW - 6, y: yPos + bar - 5, "text-anchor": "end", class: "tick" }, r.label),
          s("rect", { x: labelW, y: yPos, width: width.toFixed(1), height: bar, class: "bar" }),
          s("text", { x: labelW + width + 4, y: yPos + bar - 5, class: "tick" }, r.value),
        ];
      }),
    ),
  );
}
