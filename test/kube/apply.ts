/**
 * metadata.managedFields and server-side apply. Every write records which
 * manager owns which fields; an Apply merges the applied configuration,
 * removes fields the manager stopped applying (unless someone else owns them),
 * and refuses to change a field another manager owns unless forced.
 */
import { ApiError } from "./errors.js";
import {
  childSchemaOf,
  defaultListKeys,
  describePath,
  type FieldPath,
  fieldsOf,
  fromFieldsV1,
  listKind,
  pathOf,
  removeAt,
  toFieldsV1,
  valueAt,
} from "./fieldset.js";
import { deepEqual, isObject, type Json, type JsonObject } from "./json.js";
import type { Schema } from "./schema.js";

export interface ManagedEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  subresource?: string;
  fields: Set<string>;
}

export function readManagedFields(object: JsonObject | undefined): ManagedEntry[] {
  const list = isObject(object?.metadata) ? object.metadata.managedFields : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).map((entry) => ({
    manager: String(entry.manager ?? ""),
    operation: entry.operation === "Apply" ? "Apply" : "Update",
    apiVersion: String(entry.apiVersion ?? ""),
    time: String(entry.time ?? ""),
    ...(typeof entry.subresource === "string" ? { subresource: entry.subresource } : {}),
    fields: fromFieldsV1(entry.fieldsV1),
  }));
}

export function writeManagedFields(object: JsonObject, entries: ManagedEntry[]): void {
  const metadata = object.metadata as JsonObject;
  const kept = entries.filter((entry) => entry.fields.size > 0);
  if (kept.length === 0) {
    delete metadata.managedFields;
    return;
  }
  metadata.managedFields = kept.map((entry) => ({
    manager: entry.manager,
    operation: entry.operation,
    apiVersion: entry.apiVersion,
    time: entry.time,
    fieldsType: "FieldsV1",
    fieldsV1: toFieldsV1(entry.fields),
    ...(entry.subresource ? { subresource: entry.subresource } : {}),
  }));
}

const OWNABLE_METADATA = ["labels", "annotations", "finalizers", "ownerReferences"];

/** The part of an object managers own at a given endpoint: no identity, no server-set metadata. */
export function ownedView(
  object: JsonObject | undefined,
  subresource: string | undefined,
  statusSubresource: boolean,
): JsonObject {
  if (!object) return {};
  if (subresource === "status")
    return object.status === undefined ? {} : { status: structuredClone(object.status) };
  const view: JsonObject = {};
  for (const [key, value] of Object.entries(object)) {
    if (key === "apiVersion" || key === "kind") continue;
    if (key === "status" && statusSubresource) continue;
    if (key === "metadata" && isObject(value)) {
      const metadata: JsonObject = {};
      for (const field of OWNABLE_METADATA)
        if (value[field] !== undefined) metadata[field] = structuredClone(value[field] as Json);
      if (Object.keys(metadata).length > 0) view.metadata = metadata;
      continue;
    }
    view[key] = structuredClone(value);
  }
  return view;
}

/** Ownership of fields that no longer exist goes away, whichever endpoint recorded it. */
function pruneToExisting(entries: ManagedEntry[], object: JsonObject): void {
  const view = ownedView(object, undefined, false);
  for (const entry of entries) {
    for (const key of entry.fields) if (valueAt(view, pathOf(key)) === undefined) entry.fields.delete(key);
  }
}

/** Which part of the object a write may touch: /status writes only status; other writes all but a subresource status. */
function scopeOf(subresource: string | undefined): string | undefined {
  return subresource === "status" ? "status" : undefined;
}

export interface WriteRecord {
  manager: string;
  apiVersion: string;
  subresource?: string;
  statusSubresource: boolean;
  schema: Schema;
  now: string;
}

/** After a create, update or non-apply patch: the manager takes ownership of every field it changed. */
export function recordUpdate(
  entries: ManagedEntry[],
  before: JsonObject | undefined,
  after: JsonObject,
  write: WriteRecord,
): ManagedEntry[] {
  const oldView = ownedView(before, scopeOf(write.subresource), write.statusSubresource);
  const newView = ownedView(after, scopeOf(write.subresource), write.statusSubresource);
  const changed = [...fieldsOf(newView, write.schema)].filter(
    (key) => !deepEqual(valueAt(oldView, pathOf(key)), valueAt(newView, pathOf(key))),
  );
  const next = entries.map((entry) => ({ ...entry, fields: new Set(entry.fields) }));
  if (changed.length > 0) {
    for (const entry of next) for (const key of changed) entry.fields.delete(key);
    let mine = next.find(
      (entry) =>
        entry.manager === write.manager &&
        entry.operation === "Update" &&
        entry.subresource === write.subresource,
    );
    if (!mine) {
      mine = {
        manager: write.manager,
        operation: "Update",
        apiVersion: write.apiVersion,
        time: write.now,
        fields: new Set(),
        ...(write.subresource ? { subresource: write.subresource } : {}),
      };
      next.push(mine);
    }
    for (const key of changed) mine.fields.add(key);
    mine.time = write.now;
    mine.apiVersion = write.apiVersion;
  }
  pruneToExisting(next, after);
  return next;
}

/** Merges an applied configuration into the live value: keyed lists by key, sets as unions, the rest replaced. */
function mergeApplied(live: Json | undefined, config: Json, schema: Schema | undefined): Json {
  if (isObject(config) && isObject(live) && schema?.["x-kubernetes-map-type"] !== "atomic") {
    const out: JsonObject = structuredClone(live);
    for (const [key, value] of Object.entries(config))
      out[key] = mergeApplied(live[key], value, childSchemaOf(schema, key));
    return out;
  }
  if (Array.isArray(config) && Array.isArray(live)) {
    const kind = listKind(schema);
    if (kind.type === "map") {
      const out = structuredClone(live);
      for (const item of config) {
        const index = out.findIndex(
          (existing) =>
            isObject(existing) &&
            isObject(item) &&
            kind.keys.every((key) => deepEqual(existing[key], item[key])),
        );
        if (index >= 0) out[index] = mergeApplied(out[index], item, schema?.items);
        else out.push(structuredClone(item));
      }
      return out;
    }
    if (kind.type === "set")
      return [...live, ...config.filter((item) => !live.some((existing) => deepEqual(existing, item)))];
  }
  return structuredClone(config);
}

export interface ApplyRequest extends WriteRecord {
  /** The stored object, or a skeleton (apiVersion, kind, name, namespace) when apply creates it. */
  live: JsonObject;
  liveExists: boolean;
  config: JsonObject;
  force: boolean;
}

export function serverSideApply(request: ApplyRequest): JsonObject {
  const { schema, subresource, statusSubresource } = request;
  const entries = readManagedFields(request.liveExists ? request.live : undefined);
  const liveView = ownedView(request.live, scopeOf(subresource), statusSubresource);
  const configView = defaultListKeys(
    ownedView(request.config, scopeOf(subresource), statusSubresource),
    schema,
  ) as JsonObject;
  const applied = fieldsOf(configView, schema);
  let mine = entries.find(
    (entry) =>
      entry.manager === request.manager && entry.operation === "Apply" && entry.subresource === subresource,
  );
  const previouslyApplied = mine?.fields ?? new Set<string>();

  const conflicts: { entry: ManagedEntry; key: string }[] = [];
  for (const entry of entries) {
    if (entry === mine) continue;
    for (const key of applied) {
      if (!entry.fields.has(key) || key.endsWith(".")) continue;
      const path = pathOf(key);
      if (!deepEqual(valueAt(liveView, path), valueAt(configView, path))) conflicts.push({ entry, key });
    }
  }
  if (conflicts.length > 0 && !request.force) throw conflictError(conflicts);
  for (const { entry, key } of conflicts) entry.fields.delete(key);

  const merged = mergeApplied(request.live, configView, schema) as JsonObject;
  const ownedByOthers = (key: string) => entries.some((entry) => entry !== mine && entry.fields.has(key));
  const dropped = [...previouslyApplied].filter((key) => !applied.has(key) && !ownedByOthers(key));
  for (const key of dropped.sort((a, b) => b.length - a.length)) removeAt(merged, pathOf(key));

  if (!mine) {
    mine = {
      manager: request.manager,
      operation: "Apply",
      apiVersion: request.apiVersion,
      time: request.now,
      fields: applied,
      ...(subresource ? { subresource } : {}),
    };
    entries.push(mine);
  }
  mine.fields = applied;
  mine.time = request.now;
  mine.apiVersion = request.apiVersion;
  pruneToExisting(entries, merged);
  writeManagedFields(merged, entries);
  return merged;
}

function conflictError(conflicts: { entry: ManagedEntry; key: string }[]): ApiError {
  const describe = (entry: ManagedEntry) =>
    `"${entry.manager}"${entry.subresource ? ` with subresource "${entry.subresource}"` : ""} using ${entry.apiVersion}`;
  const fieldOf = (key: string) => describePath(pathOf(key) as FieldPath);
  let message: string;
  const first = conflicts[0];
  if (conflicts.length === 1 && first) {
    message = `Apply failed with 1 conflict: conflict with ${describe(first.entry)}: ${fieldOf(first.key)}`;
  } else {
    const byManager = new Map<ManagedEntry, string[]>();
    for (const { entry, key } of conflicts)
      byManager.set(entry, [...(byManager.get(entry) ?? []), fieldOf(key)]);
    const parts = [...byManager].map(
      ([entry, fields]) =>
        `conflicts with ${describe(entry)}:\n${fields.map((field) => `- ${field}`).join("\n")}`,
    );
    message = `Apply failed with ${conflicts.length} conflicts: ${parts.join("\n")}`;
  }
  return new ApiError(409, "Conflict", message, {
    causes: conflicts.map(({ entry, key }) => ({
      reason: "FieldManagerConflict",
      message: `conflict with ${describe(entry)}`,
      field: fieldOf(key),
    })),
  });
}
