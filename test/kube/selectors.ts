/** labelSelector and fieldSelector as the API server parses them; bad syntax is a 400, as there. */
import { badRequest } from "./errors.js";
import { isObject, type Json, type JsonObject, stringMap } from "./json.js";

type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

export type Selector = (labelsOrFields: Record<string, string>) => boolean;

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "(") depth += 1;
    if (char === ")") depth -= 1;
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  if (current.trim()) parts.push(current);
  return parts.map((part) => part.trim()).filter(Boolean);
}

function parseRequirement(text: string, allowSets: boolean): Requirement {
  const set = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(text);
  if (set?.[1] && set[2] && set[3] !== undefined && allowSets) {
    const values = set[3]
      .split(",")
      .map((value) => value.trim())
      .filter(Boolean);
    return { key: set[1], op: set[2] === "in" ? "in" : "notin", values };
  }
  const comparison = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(text);
  if (comparison?.[1] && comparison[2] && comparison[3] !== undefined) {
    return { key: comparison[1], op: comparison[2] === "!=" ? "!=" : "=", value: comparison[3] };
  }
  if (allowSets && /^![^\s!=()]+$/.test(text)) return { key: text.slice(1), op: "!exists" };
  if (allowSets && /^[^\s!=()]+$/.test(text)) return { key: text, op: "exists" };
  throw badRequest(`unable to parse requirement: found '${text}', expected: ',', '=', '!=' or 'in'`);
}

function matches(requirement: Requirement, values: Record<string, string>): boolean {
  const present = Object.hasOwn(values, requirement.key);
  const value = values[requirement.key];
  switch (requirement.op) {
    case "=":
      return value === requirement.value;
    case "!=":
      return value !== requirement.value;
    case "in":
      return present && value !== undefined && requirement.values.includes(value);
    case "notin":
      return !present || value === undefined || !requirement.values.includes(value);
    case "exists":
      return present;
    case "!exists":
      return !present;
  }
}

export function parseLabelSelector(text: string | null): Selector {
  const requirements = splitTopLevel(text ?? "").map((part) => parseRequirement(part, true));
  return (labels) => requirements.every((requirement) => matches(requirement, labels));
}

/** Field selectors: only `=`, `==` and `!=`, and only on fields the kind supports. */
export function parseFieldSelector(text: string | null, supported: string[]): Selector {
  const requirements = splitTopLevel(text ?? "").map((part) => parseRequirement(part, false));
  for (const requirement of requirements) {
    if (!supported.includes(requirement.key)) {
      throw badRequest(`field label not supported: ${requirement.key}`);
    }
  }
  return (fields) => requirements.every((requirement) => matches(requirement, fields));
}

/** A metav1.LabelSelector object rendered as selector text, as Scale.status.selector carries it. */
export function labelSelectorText(selector: Json | undefined): string {
  if (typeof selector === "string") return selector;
  if (!isObject(selector)) return "";
  const parts = Object.entries(stringMap(selector.matchLabels)).map(([key, value]) => `${key}=${value}`);
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  for (const expression of expressions) {
    if (!isObject(expression)) continue;
    const key = String(expression.key);
    const values = Array.isArray(expression.values) ? expression.values.map(String) : [];
    const operator = String(expression.operator);
    if (operator === "In") parts.push(`${key} in (${values.join(",")})`);
    if (operator === "NotIn") parts.push(`${key} notin (${values.join(",")})`);
    if (operator === "Exists") parts.push(key);
    if (operator === "DoesNotExist") parts.push(`!${key}`);
  }
  return parts.join(",");
}

/** The field values a fieldSelector sees on an object: dotted paths to scalars. */
export function selectableFields(object: JsonObject, paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const path of paths) {
    let current: Json | undefined = object;
    for (const key of path.split(".")) current = isObject(current) ? current[key] : undefined;
    if (typeof current === "string" || typeof current === "number" || typeof current === "boolean") {
      out[path] = String(current);
    } else out[path] = "";
  }
  return out;
}
