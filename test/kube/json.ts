/** Plain JSON values as they travel through the API server, and small helpers to walk them safely. */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function deepClone<T extends Json>(value: T): T {
  return structuredClone(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((key) => key in b && deepEqual(a[key], b[key]))
    );
  }
  return false;
}

/** The object at `key`, created empty if missing (so callers can write into metadata, status, ...). */
export function child(parent: JsonObject, key: string): JsonObject {
  const existing = parent[key];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

export function objectAt(parent: Json | undefined, ...keys: string[]): JsonObject | undefined {
  let current: Json | undefined = parent;
  for (const key of keys) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return isObject(current) ? current : undefined;
}

export function stringAt(parent: Json | undefined, ...keys: string[]): string | undefined {
  const last = keys.at(-1);
  const holder = objectAt(parent, ...keys.slice(0, -1));
  const value = holder && last !== undefined ? holder[last] : undefined;
  return typeof value === "string" ? value : undefined;
}

export function numberAt(parent: Json | undefined, ...keys: string[]): number | undefined {
  const last = keys.at(-1);
  const holder = objectAt(parent, ...keys.slice(0, -1));
  const value = holder && last !== undefined ? holder[last] : undefined;
  return typeof value === "number" ? value : undefined;
}

export function stringMap(value: Json | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [key, item] of Object.entries(value)) if (typeof item === "string") out[key] = item;
  return out;
}

/** A JSON value's type as Kubernetes error messages name it. */
export function jsonTypeName(value: Json | undefined): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}
