/**
 * PATCH in its four forms: JSON patch, merge patch and strategic merge patch
 * are applied to the stored object and then written like an update; an apply
 * patch goes through server-side apply (apply.ts) and may create the object.
 */
import { parse as parseYaml } from "yaml";
import { pruneUnknown } from "./admission.js";
import { serverSideApply } from "./apply.js";
import { badRequest, conflict, MODIFIED_SINCE, notFound } from "./errors.js";
import { child, isObject, type Json, type JsonObject, objectAt, stringAt } from "./json.js";
import type { ObjectService, PatchType, WriteOptions } from "./objects.js";
import { applyJsonPatch, applyMergePatch, applyStrategicMerge } from "./patch.js";
import { apiVersionOf, type ResourceType } from "./resource-types.js";

export function patchObject(
  objects: ObjectService,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
  patchType: PatchType,
  body: string,
  options: WriteOptions & { force?: boolean },
  subresource?: string,
): JsonObject {
  if (patchType === "apply") return applyObject(objects, type, namespace, name, body, options, subresource);
  const existing = objects.get(type, namespace, name);
  let patchDocument: Json;
  try {
    patchDocument = JSON.parse(body) as Json;
  } catch (error) {
    throw badRequest(`error decoding patch: ${(error as Error).message}`);
  }
  let patched: Json;
  if (patchType === "json") patched = applyJsonPatch(existing, patchDocument);
  else if (patchType === "merge") patched = applyMergePatch(existing, patchDocument);
  else patched = applyStrategicMerge(existing, patchDocument, type.schema);
  if (!isObject(patched)) throw badRequest("the patch produced a non-object");
  const requested = stringAt(patched, "metadata", "resourceVersion");
  if (requested !== undefined && requested !== stringAt(existing, "metadata", "resourceVersion"))
    throw conflict(type, name, MODIFIED_SINCE);
  const identity = objects.normalizeIdentity(type, patched, namespace);
  return objects.commit(type, existing, identity, options, subresource, undefined);
}

function applyObject(
  objects: ObjectService,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
  body: string,
  options: WriteOptions & { force?: boolean },
  subresource?: string,
): JsonObject {
  if (!options.fieldManager)
    throw badRequest("PATCH, application/apply-patch+yaml: fieldManager is required for apply requests");
  let config: unknown;
  try {
    config = parseYaml(body);
  } catch (error) {
    throw badRequest(`error decoding YAML: ${(error as Error).message}`);
  }
  if (!isObject(config)) throw badRequest("apply configuration must be an object");
  if (config.apiVersion === undefined || config.kind === undefined) {
    throw badRequest("apiVersion and kind must be set in the applied configuration");
  }
  const normalized = objects.normalizeIdentity(type, config, namespace);
  const configName = stringAt(normalized, "metadata", "name");
  if (configName !== undefined && configName !== name) {
    throw badRequest(`the name of the object (${configName}) does not match the name on the URL (${name})`);
  }
  child(normalized, "metadata").name = name;
  const existing = objects.find(type, namespace, name);
  const requested = stringAt(normalized, "metadata", "resourceVersion");
  if (requested !== undefined && existing && requested !== stringAt(existing, "metadata", "resourceVersion"))
    throw conflict(type, name, MODIFIED_SINCE);
  // Unknown fields are reported against what the client sent; validation runs on the merged result.
  const checked = pruneUnknown(type, normalized, options.fieldValidation ?? "Warn", subresource);
  options.warnings?.push(...checked.warnings);
  const skeleton: JsonObject = {
    apiVersion: apiVersionOf(type),
    kind: type.kind,
    metadata: { name, ...(type.namespaced && namespace ? { namespace } : {}) },
  };
  const merged = serverSideApply({
    live: existing ?? skeleton,
    liveExists: existing !== undefined,
    config: checked.object,
    force: options.force ?? false,
    ...objects.writeRecord(type, options.fieldManager, subresource),
  });
  const managedFields = objectAt(merged, "metadata")?.managedFields ?? [];
  if (!existing) {
    if (subresource) throw notFound(type, name);
    return objects.create(type, namespace, merged, options, true);
  }
  return objects.commit(type, existing, merged, options, subresource, managedFields);
}
