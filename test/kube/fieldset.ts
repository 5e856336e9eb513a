/**
 * Field sets as structured-merge-diff models them: the paths an object's
 * fields live at (f:name, k:{"name":"x"} for keyed list items, v:"x" for set
 * members), and their FieldsV1 encoding in metadata.managedFields.
 */
import { deepEqual, isObject, type Json, type JsonObject } from "./json.js";
import type { Schema } from "./schema.js";

export type FieldPath = string[];
const SEPARATOR = "\u0001";

export function pathKey(path: FieldPath): string {
  return path.join(SEPARATOR);
}

export function pathOf(key: string): FieldPath {
  return key === "" ? [] : key.split(SEPARATOR);
}

export function childSchemaOf(schema: Schema | undefined, key: string): Schema | undefined {
  if (!schema) return undefined;
  if (schema.properties?.[key]) return schema.properties[key];
  if (isObject(schema.additionalProperties)) return schema.additionalProperties as Schema;
  return undefined;
}

type ListKind = { type: "map"; keys: string[] } | { type: "set" } | { type: "atomic" };

export function listKind(schema: Schema | undefined): ListKind {
  const declared = schema?.["x-kubernetes-list-type"];
  const keys = schema?.["x-kubernetes-list-map-keys"];
  if (declared === "map" && keys?.length) return { type: "map", keys };
  if (declared === "set") return { type: "set" };
  return { type: "atomic" };
}

function itemKey(item: JsonObject, keys: string[]): string {
  const picked: JsonObject = {};
  for (const key of [...keys].sort()) if (item[key] !== undefined) picked[key] = item[key] as Json;
  return `k:${JSON.stringify(picked)}`;
}

/**
 * Fills missing list-map key fields from their schema defaults (Service and
 * container ports default protocol to TCP), so an applied item without them
 * matches the stored, defaulted item, as structured-merge-diff does.
 */
export function defaultListKeys(value: Json, schema: Schema | undefined): Json {
  if (Array.isArray(value)) {
    const kind = listKind(schema);
    return value.map((item) => {
      const filled = defaultListKeys(item, schema?.items);
      if (kind.type !== "map" || !isObject(filled)) return filled;
      for (const key of kind.keys) {
        const fallback = schema?.items?.properties?.[key]?.default;
        if (filled[key] === undefined && fallback !== undefined) filled[key] = structuredClone(fallback);
      }
      return filled;
    });
  }
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, defaultListKeys(item, childSchemaOf(schema, key))]),
  );
}

/** Every owned path in `value`: leaves, keyed list items ("."), set members. */
export function fieldsOf(
  value: Json | undefined,
  schema: Schema | undefined,
  prefix: FieldPath = [],
  out = new Set<string>(),
): Set<string> {
  if (value === undefined) return out;
  if (isObject(value) && schema?.["x-kubernetes-map-type"] !== "atomic") {
    const entries = Object.entries(value);
    if (entries.length === 0 && prefix.length > 0) out.add(pathKey(prefix));
    for (const [key, child] of entries)
      fieldsOf(child, childSchemaOf(schema, key), [...prefix, `f:${key}`], out);
    return out;
  }
  if (Array.isArray(value)) {
    const kind = listKind(schema);
    if (kind.type === "map") {
      for (const item of value) {
        if (!isObject(item)) continue;
        const itemPath = [...prefix, itemKey(item, kind.keys)];
        out.add(pathKey([...itemPath, "."]));
        fieldsOf(item, schema?.items, itemPath, out);
      }
      return out;
    }
    if (kind.type === "set") {
      for (const item of value) out.add(pathKey([...prefix, `v:${JSON.stringify(item)}`]));
      return out;
    }
  }
  if (prefix.length > 0) out.add(pathKey(prefix));
  return out;
}

function matchesItemKey(item: Json, element: string): boolean {
  if (!isObject(item)) return false;
  const wanted: unknown = JSON.parse(element.slice(2));
  return isObject(wanted) && Object.entries(wanted).every(([key, value]) => deepEqual(item[key], value));
}

/** The value at a field path, or undefined if the object has nothing there. */
export function valueAt(root: Json | undefined, path: FieldPath): Json | undefined {
  let current = root;
  for (const element of path) {
    if (element === ".") return current;
    if (element.startsWith("f:")) current = isObject(current) ? current[element.slice(2)] : undefined;
    else if (element.startsWith("k:"))
      current = Array.isArray(current) ? current.find((item) => matchesItemKey(item, element)) : undefined;
    else if (element.startsWith("v:")) {
      const wanted = JSON.parse(element.slice(2)) as Json;
      current =
        Array.isArray(current) && current.some((item) => deepEqual(item, wanted)) ? wanted : undefined;
    } else return undefined;
    if (current === undefined) return undefined;
  }
  return current;
}

/** Removes the field at `path` from `root` in place (a keyed item's "." path removes the item). */
export function removeAt(root: Json, path: FieldPath): void {
  const effective = path.at(-1) === "." ? path.slice(0, -1) : path;
  const last = effective.at(-1);
  if (last === undefined) return;
  const parent = valueAt(root, effective.slice(0, -1));
  if (last.startsWith("f:") && isObject(parent)) delete parent[last.slice(2)];
  if (last.startsWith("k:") && Array.isArray(parent)) {
    const index = parent.findIndex((item) => matchesItemKey(item, last));
    if (index >= 0) parent.splice(index, 1);
  }
  if (last.startsWith("v:") && Array.isArray(parent)) {
    const wanted = JSON.parse(last.slice(2)) as Json;
    const index = parent.findIndex((item) => deepEqual(item, wanted));
    if (index >= 0) parent.splice(index, 1);
  }
}

export function toFieldsV1(fields: Set<string>): JsonObject {
  const root: JsonObject = {};
  for (const key of [...fields].sort()) {
    let node = root;
    for (const element of pathOf(key)) {
      const next = node[element];
      if (isObject(next)) node = next;
      else {
        const created: JsonObject = {};
        node[element] = created;
        node = created;
      }
    }
  }
  return root;
}

export function fromFieldsV1(
  encoded: Json | undefined,
  prefix: FieldPath = [],
  out = new Set<string>(),
): Set<string> {
  if (!isObject(encoded)) return out;
  for (const [element, child] of Object.entries(encoded)) {
    const path = [...prefix, element];
    if (element === "." || !isObject(child) || Object.keys(child).length === 0) out.add(pathKey(path));
    else fromFieldsV1(child, path, out);
  }
  return out;
}

/** `.spec.containers[name="web"].image`: how conflict messages name a field. */
export function describePath(path: FieldPath): string {
  let text = "";
  for (const element of path) {
    if (element === ".") continue;
    if (element.startsWith("f:")) text += `.${element.slice(2)}`;
    else if (element.startsWith("k:")) {
      const keys = JSON.parse(element.slice(2)) as JsonObject;
      text += `[${Object.entries(keys)
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
        .join(",")}]`;
    } else if (element.startsWith("v:")) text += `[=${element.slice(2)}]`;
  }
  return text;
}
