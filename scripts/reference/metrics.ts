/**
 * docs/reference/metrics.md: every Prometheus metric the relay and the operator
 * register, found in the source: each `new Counter|Gauge|Histogram|Summary({...})`
 * with its name (a literal, or a constant of the same file), help and labels.
 * A scan rather than the registries, because some metrics are registered by
 * components (feedback, webhooks, API) that need a running relay to construct.
 */
import { code, GENERATED_NOTE, table } from "./markdown.js";
import { type SourceFile, sourceFiles, stringLiteralAt } from "./source.js";

export interface MetricEntry {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary";
  help: string;
  labels: string[];
  file: string;
}

const CONSTRUCTOR = /\bnew (Counter|Gauge|Histogram|Summary)\(\{/g;

/** The `{ ... }` argument starting at `open`, braces balanced (strings in it hold none that matter here). */
function objectText(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open, i + 1);
  }
  throw new Error("unbalanced braces after a metric constructor");
}

function propertyValue(body: string, property: string, file: SourceFile): string | undefined {
  const match = new RegExp(`\\b${property}:\\s*`).exec(body);
  if (!match) return undefined;
  const at = match.index + match[0].length;
  const literal = stringLiteralAt(body, at);
  if (literal !== undefined) return literal;
  const constant = /^[A-Z_]+\b/.exec(body.slice(at))?.[0];
  if (!constant) throw new Error(`${file.path}: ${property} is neither a literal nor a constant`);
  const declaration = new RegExp(`\\bconst ${constant} = `).exec(file.text);
  const value = declaration && stringLiteralAt(file.text, declaration.index + declaration[0].length);
  if (value === undefined || value === null) throw new Error(`${file.path}: no string constant ${constant}`);
  return value;
}

export function metricsInSource(files: readonly SourceFile[]): MetricEntry[] {
  const found: MetricEntry[] = [];
  for (const file of files)
    for (const match of file.text.matchAll(CONSTRUCTOR)) {
      const body = objectText(file.text, match.index + match[0].length - 1);
      const name = propertyValue(body, "name", file);
      if (!name) throw new Error(`${file.path}: a metric without a name`);
      const labels = /\blabelNames:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? "";
      found.push({
        name,
        type: (match[1] ?? "").toLowerCase() as MetricEntry["type"],
        help: propertyValue(body, "help", file) ?? "",
        labels: [...labels.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? ""),
        file: file.path,
      });
    }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function metricTable(entries: readonly MetricEntry[]): string {
  return table(
    ["name", "type", "labels", "help", "registered in"],
    entries.map((m) => [code(m.name), m.type, m.labels.map(code).join(", "), m.help, code(m.file)]),
  );
}

export function metricsReference(): string {
  const entries = metricsInSource(sourceFiles());
  const operator = entries.filter((m) => m.file.startsWith("operator/"));
  const relay = entries.filter((m) => !m.file.startsWith("operator/"));
  return `# Metrics

${GENERATED_NOTE}

Every Prometheus metric registered in \`relay/\` and \`operator/\`, found in the source
(\`new Counter|Gauge|Histogram|Summary({ name, help, labelNames })\`). Each process has a
private registry; the relay's is served at \`GET /metrics\` on \`listen.metrics\`, the
operator's on its own metrics port. The relay also exports prom-client's process and
Node.js metrics under the \`relayfleet_process_\` prefix.

## Relay

${metricTable(relay)}

## Operator

${metricTable(operator)}
`;
}
