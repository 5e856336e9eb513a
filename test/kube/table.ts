/**
 * meta.k8s.io/v1 Table responses, which `kubectl get` asks for: columns from
 * a CRD's additionalPrinterColumns (JSONPath) or a built-in's computed ones.
 */
import { isObject, type Json, type JsonObject } from "./json.js";
import type { PrinterColumn, ResourceType } from "./resource-types.js";

type Step =
  | { field: string }
  | { index: number }
  | { all: true }
  | { filter: { path: string[]; value: string } };

/** The JSONPath subset printer columns use: .a.b, [0], [*], [?(@.type=="Ready")]. */
export function parseJsonPath(path: string): Step[] {
  const steps: Step[] = [];
  const pattern =
    /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]|\[\?\(@((?:\.[A-Za-z0-9_-]+)+)\s*==\s*["']([^"']*)["']\)\]|\['([^']+)'\]/gy;
  const text = path.replace(/^\{|\}$/g, "").replace(/^\$/, "");
  let match: RegExpExecArray | null = pattern.exec(text);
  while (match) {
    if (match[1] !== undefined) steps.push({ field: match[1] });
    else if (match[2] !== undefined) steps.push({ index: Number(match[2]) });
    else if (match[3] !== undefined)
      steps.push({ filter: { path: match[3].slice(1).split("."), value: match[4] ?? "" } });
    else if (match[5] !== undefined) steps.push({ field: match[5] });
    else steps.push({ all: true });
    if (pattern.lastIndex >= text.length) break;
    match = pattern.exec(text);
  }
  return steps;
}

export function evaluateJsonPath(root: Json, path: string): Json[] {
  let current: Json[] = [root];
  for (const step of parseJsonPath(path)) {
    const next: Json[] = [];
    for (const value of current) {
      if ("field" in step && isObject(value) && value[step.field] !== undefined)
        next.push(value[step.field] as Json);
      if ("index" in step && Array.isArray(value) && value[step.index] !== undefined)
        next.push(value[step.index] as Json);
      if ("all" in step && Array.isArray(value)) next.push(...value);
      if ("filter" in step && Array.isArray(value)) {
        for (const item of value) {
          let probe: Json | undefined = item;
          for (const key of step.filter.path) probe = isObject(probe) ? probe[key] : undefined;
          if (probe !== undefined && String(probe) === step.filter.value) next.push(item);
        }
      }
    }
    current = next;
  }
  return current;
}

/** apimachinery's duration.HumanDuration, which kubectl's AGE column shows. */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (years < 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

function cell(column: PrinterColumn, object: JsonObject): Json {
  if (column.compute) return column.compute(object);
  if (column.type === "date") {
    const [value] = evaluateJsonPath(object, column.jsonPath);
    const time = typeof value === "string" ? Date.parse(value) : Number.NaN;
    return Number.isNaN(time) ? "<unknown>" : humanDuration(Date.now() - time);
  }
  const values = evaluateJsonPath(object, column.jsonPath);
  if (values.length === 0) return null;
  const first = values[0] as Json;
  if (values.length > 1)
    return values.map((value) => (typeof value === "string" ? value : JSON.stringify(value))).join(",");
  if (column.type === "integer" || column.type === "number" || column.type === "boolean") return first;
  return typeof first === "string" ? first : JSON.stringify(first);
}

export type IncludeObject = "None" | "Metadata" | "Object";

export function toTable(
  type: ResourceType,
  objects: JsonObject[],
  include: IncludeObject,
  listMeta: JsonObject,
): JsonObject {
  const columns: JsonObject[] = [
    {
      name: "Name",
      type: "string",
      format: "name",
      description: "Name must be unique within a namespace.",
      priority: 0,
    },
    ...type.printerColumns.map((column) => ({
      name: column.name,
      type: column.type,
      format: column.format ?? "",
      description: column.description ?? "",
      priority: column.priority ?? 0,
    })),
  ];
  const rows = objects.map((object) => {
    const metadata = isObject(object.metadata) ? object.metadata : {};
    const row: JsonObject = {
      cells: [metadata.name ?? "", ...type.printerColumns.map((column) => cell(column, object))],
    };
    if (include === "Object") row.object = object;
    if (include === "Metadata") {
      row.object = { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata };
    }
    return row;
  });
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: columns,
    rows,
  };
}
