/**
 * Decisions about an object's life that need no I/O: what a DELETE does
 * (remove now, or mark with deletionTimestamp and wait for finalizers), and
 * how to tell a real change from a no-op write.
 */
import { conflict } from "./errors.js";
import { child, isObject, type Json, type JsonObject, objectAt } from "./json.js";
import { tracksGeneration } from "./kinds.js";
import { apiVersionOf, type ResourceType } from "./resource-types.js";

export interface DeleteOptions {
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export type DeletionPlan =
  /** No finalizers: the object goes now. */
  | { action: "remove"; object: JsonObject }
  /** Finalizers (or a foreground/orphan policy) hold it: store it marked with deletionTimestamp. */
  | { action: "mark"; object: JsonObject }
  /** Already marked: deleting again changes nothing. */
  | { action: "already-deleting"; object: JsonObject };

export function planDeletion(
  type: ResourceType,
  existing: JsonObject,
  options: DeleteOptions,
  now: string,
): DeletionPlan {
  const object = structuredClone(existing);
  const metadata = child(object, "metadata");
  const name = String(metadata.name);
  const { uid, resourceVersion } = options.preconditions ?? {};
  if (uid !== undefined && uid !== metadata.uid) {
    throw conflict(
      type,
      name,
      `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(metadata.uid)}`,
    );
  }
  if (resourceVersion !== undefined && resourceVersion !== metadata.resourceVersion) {
    throw conflict(
      type,
      name,
      `Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${String(metadata.resourceVersion)}`,
    );
  }
  const finalizers = finalizersOf(object);
  const policy = options.propagationPolicy ?? "Background";
  if (policy === "Foreground" && !finalizers.includes("foregroundDeletion"))
    finalizers.push("foregroundDeletion");
  if (policy === "Orphan" && !finalizers.includes("orphan")) finalizers.push("orphan");
  if (finalizers.length === 0 && !namespaceFinalizersPending(type, object))
    return { action: "remove", object };
  if (typeof metadata.deletionTimestamp === "string") return { action: "already-deleting", object };
  metadata.finalizers = finalizers;
  metadata.deletionTimestamp = now;
  metadata.deletionGracePeriodSeconds = 0;
  if (tracksGeneration(type)) metadata.generation = Number(metadata.generation ?? 0) + 1;
  if (type.kind === "Namespace" && type.builtin) child(object, "status").phase = "Terminating";
  return { action: "mark", object };
}

export function finalizersOf(object: JsonObject): string[] {
  const list = objectAt(object, "metadata")?.finalizers;
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === "string") : [];
}

/** A namespace also waits for spec.finalizers (the "kubernetes" finalizer the namespace controller clears). */
export function namespaceFinalizersPending(type: ResourceType, object: JsonObject): boolean {
  if (type.kind !== "Namespace" || !type.builtin) return false;
  const list = objectAt(object, "spec")?.finalizers;
  return Array.isArray(list) && list.length > 0;
}

export function specChanged(before: JsonObject, after: JsonObject): boolean {
  const strip = (object: JsonObject) =>
    JSON.stringify(
      Object.fromEntries(Object.entries(object).filter(([key]) => key !== "metadata" && key !== "status")),
    );
  return strip(before) !== strip(after);
}

/** An object without what changes on every write anyway, to recognise no-op updates as the server does. */
export function withoutVolatile(object: JsonObject, type: ResourceType): string {
  const copy = structuredClone(object);
  copy.apiVersion = apiVersionOf(type);
  const metadata = child(copy, "metadata");
  delete metadata.resourceVersion;
  const entries = Array.isArray(metadata.managedFields) ? metadata.managedFields : [];
  metadata.managedFields = entries.map((entry) => (isObject(entry) ? { ...entry, time: "" } : entry));
  return JSON.stringify(sortKeys(copy));
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys(value[key] as Json)]),
  );
}
