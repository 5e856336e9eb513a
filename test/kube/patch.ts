/**
 * The three classic PATCH formats: JSON patch (RFC 6902), JSON merge patch
 * (RFC 7386) and Kubernetes' strategic merge patch, whose list semantics come
 * from the schema's x-kubernetes-patch-strategy / -merge-key. Server-side
 * apply is in apply.ts.
 */
import { ApiError } from "./errors.js";
import { deepEqual, isObject, type Json, type JsonObject } from "./json.js";
import type { Schema } from "./schema.js";

function patchError(message: string): ApiError {
  return new ApiError(
    422,
    "Invalid",
    `the server rejected our request due to an error in our request: ${message}`,
    {
      causes: [{ reason: "FieldValueInvalid", message, field: "patch" }],
    },
  );
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw patchError(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function resolveParent(
  document: Json,
  segments: string[],
  op: string,
  path: string,
): { parent: Json; key: string } {
  let current = document;
  for (const segment of segments.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(current)
      ? current[Number(segment)]
      : isObject(current)
        ? current[segment]
        : undefined;
    if (next === undefined)
      throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    current = next;
  }
  const key = segments.at(-1);
  if (key === undefined) throw patchError(`${op} operation cannot target the whole document`);
  return { parent: current, key };
}

function readAt(document: Json, path: string, op: string): Json {
  let current: Json | undefined = document;
  for (const segment of pointer(path)) {
    current = Array.isArray(current)
      ? current[Number(segment)]
      : isObject(current)
        ? current[segment]
        : undefined;
    if (current === undefined)
      throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return current;
}

function removeAt(document: Json, path: string, op: string): Json {
  const { parent, key } = resolveParent(document, pointer(path), op, path);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length)
      throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    return parent.splice(index, 1)[0] as Json;
  }
  if (!isObject(parent) || parent[key] === undefined)
    throw patchError(`${op} operation does not apply: doc is missing key: ${path}: missing value`);
  const value = parent[key] as Json;
  delete parent[key];
  return value;
}

function addAt(document: Json, path: string, value: Json, op: string, replace: boolean): void {
  const { parent, key } = resolveParent(document, pointer(path), op, path);
  if (Array.isArray(parent)) {
    const index = key === "-" ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length)
      throw patchError(`${op} operation does not apply: index out of bounds: ${key}`);
    if (replace) {
      if (index >= parent.length)
        throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
      parent[index] = value;
    } else parent.splice(index, 0, value);
    return;
  }
  if (!isObject(parent))
    throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  if (replace && parent[key] === undefined)
    throw patchError(`${op} operation does not apply: doc is missing key: ${path}: missing value`);
  parent[key] = value;
}

export function applyJsonPatch(original: JsonObject, patch: Json): JsonObject {
  if (!Array.isArray(patch))
    throw new ApiError(
      400,
      "BadRequest",
      "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
    );
  let document: Json = structuredClone(original);
  for (const operation of patch) {
    if (!isObject(operation)) throw patchError("operation must be an object");
    const op = String(operation.op);
    const path = String(operation.path ?? "");
    const value = structuredClone(operation.value ?? null);
    if (op === "add") {
      if (path === "") document = value;
      else addAt(document, path, value, op, false);
    } else if (op === "remove") removeAt(document, path, op);
    else if (op === "replace") {
      if (path === "") document = value;
      else addAt(document, path, value, op, true);
    } else if (op === "move") {
      const moved = removeAt(document, String(operation.from), op);
      addAt(document, path, moved, op, false);
    } else if (op === "copy") {
      addAt(document, path, structuredClone(readAt(document, String(operation.from), op)), op, false);
    } else if (op === "test") {
      if (!deepEqual(readAt(document, path, op), operation.value))
        throw patchError(`testing value ${path} failed: test failed`);
    } else throw patchError(`Unexpected kind: ${op}`);
  }
  if (!isObject(document)) throw patchError("the patch replaced the object with a non-object");
  return document;
}

export function applyMergePatch(original: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(original) ? structuredClone(original) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

function childSchema(schema: Schema | undefined, key: string): Schema | undefined {
  if (!schema) return undefined;
  return (
    schema.properties?.[key] ??
    (isObject(schema.additionalProperties) ? (schema.additionalProperties as Schema) : undefined)
  );
}

const SET_ORDER = "$setElementOrder/";
const DELETE_PRIMITIVE = "$deleteFromPrimitiveList/";

/** Strategic merge patch of `patch` onto `original`, with list semantics from `schema`. */
export function applyStrategicMerge(
  original: Json | undefined,
  patch: Json,
  schema: Schema | undefined,
): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch.$patch;
  if (directive === "replace") {
    const { $patch: _ignored, ...rest } = patch;
    return structuredClone(rest);
  }
  if (directive === "delete") return null;
  const out: JsonObject = isObject(original) ? structuredClone(original) : {};
  const retainKeys = Array.isArray(patch.$retainKeys) ? patch.$retainKeys.map(String) : undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith(SET_ORDER)) continue;
    if (key.startsWith(DELETE_PRIMITIVE)) {
      const field = key.slice(DELETE_PRIMITIVE.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(value))
        out[field] = current.filter((item) => !value.some((drop) => deepEqual(drop, item)));
      continue;
    }
    const fieldSchema = childSchema(schema, key);
    if (value === null) {
      delete out[key];
      continue;
    }
    if (Array.isArray(value)) {
      out[key] = mergeList(out[key], value, fieldSchema);
      const order = patch[`${SET_ORDER}${key}`];
      const merged = out[key];
      if (Array.isArray(order) && Array.isArray(merged)) out[key] = reorder(merged, order, fieldSchema);
      continue;
    }
    out[key] = isObject(value) ? applyStrategicMerge(out[key], value, fieldSchema) : structuredClone(value);
  }
  if (retainKeys) for (const key of Object.keys(out)) if (!retainKeys.includes(key)) delete out[key];
  return out;
}

function mergeList(original: Json | undefined, patch: Json[], schema: Schema | undefined): Json[] {
  const strategy = schema?.["x-kubernetes-patch-strategy"] ?? "";
  const base = Array.isArray(original) ? structuredClone(original) : [];
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return patch.filter((item) => !(isObject(item) && item.$patch === "replace"));
  }
  if (!strategy.split(",").includes("merge")) return structuredClone(patch);
  const mergeKey = schema?.["x-kubernetes-patch-merge-key"];
  if (!mergeKey) {
    for (const item of patch)
      if (!base.some((existing) => deepEqual(existing, item))) base.push(structuredClone(item));
    return base;
  }
  for (const item of patch) {
    if (!isObject(item)) continue;
    const index = base.findIndex(
      (existing) => isObject(existing) && deepEqual(existing[mergeKey], item[mergeKey]),
    );
    if (item.$patch === "delete") {
      if (index >= 0) base.splice(index, 1);
      continue;
    }
    if (index >= 0) base[index] = applyStrategicMerge(base[index], item, schema?.items);
    else base.push(applyStrategicMerge(undefined, item, schema?.items));
  }
  return base;
}

function reorder(list: Json[], order: Json[], schema: Schema | undefined): Json[] {
  const mergeKey = schema?.["x-kubernetes-patch-merge-key"];
  const identity = (item: Json): string => JSON.stringify(mergeKey && isObject(item) ? item[mergeKey] : item);
  const rank = new Map(order.map((item, i) => [identity(item), i]));
  return [...list].sort(
    (a, b) => (rank.get(identity(a)) ?? order.length) - (rank.get(identity(b)) ?? order.length),
  );
}
