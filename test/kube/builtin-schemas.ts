/**
 * Schemas for built-in kinds, derived from @kubernetes/client-node's generated
 * models (which are generated from the real Kubernetes OpenAPI document), plus
 * the list and patch metadata the models leave out (patch merge keys, list
 * types), copied from the +listType/+patchMergeKey tags in k8s.io/api.
 */
import * as kubernetes from "@kubernetes/client-node";
import type { Schema } from "./schema.js";

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

interface Model {
  getAttributeTypeMap(): Attribute[];
}

function isModel(value: unknown): value is Model {
  return typeof value === "function" && "getAttributeTypeMap" in value;
}

function modelAttributes(modelName: string): Attribute[] | undefined {
  const candidate: unknown = (kubernetes as Record<string, unknown>)[modelName];
  return isModel(candidate) ? candidate.getAttributeTypeMap() : undefined;
}

interface ListMetadata {
  mergeKey?: string;
  strategy?: string;
  listType: "map" | "set" | "atomic";
  mapKeys?: string[];
}

/** `Model.field` → list semantics, for the fields the project touches. */
const LIST_METADATA: Record<string, ListMetadata> = {
  "V1PodSpec.containers": { mergeKey: "name", strategy: "merge", listType: "map", mapKeys: ["name"] },
  "V1PodSpec.initContainers": { mergeKey: "name", strategy: "merge", listType: "map", mapKeys: ["name"] },
  "V1PodSpec.ephemeralContainers": {
    mergeKey: "name",
    strategy: "merge",
    listType: "map",
    mapKeys: ["name"],
  },
  "V1PodSpec.volumes": { mergeKey: "name", strategy: "merge,retainKeys", listType: "map", mapKeys: ["name"] },
  "V1PodSpec.imagePullSecrets": { mergeKey: "name", strategy: "merge", listType: "map", mapKeys: ["name"] },
  "V1PodSpec.hostAliases": { mergeKey: "ip", strategy: "merge", listType: "map", mapKeys: ["ip"] },
  "V1PodSpec.topologySpreadConstraints": {
    mergeKey: "topologyKey",
    strategy: "merge",
    listType: "map",
    mapKeys: ["topologyKey", "whenUnsatisfiable"],
  },
  "V1Container.ports": {
    mergeKey: "containerPort",
    strategy: "merge",
    listType: "map",
    mapKeys: ["containerPort", "protocol"],
  },
  "V1Container.env": { mergeKey: "name", strategy: "merge", listType: "map", mapKeys: ["name"] },
  "V1Container.volumeMounts": {
    mergeKey: "mountPath",
    strategy: "merge",
    listType: "map",
    mapKeys: ["mountPath"],
  },
  "V1Container.volumeDevices": {
    mergeKey: "devicePath",
    strategy: "merge",
    listType: "map",
    mapKeys: ["devicePath"],
  },
  "V1ServiceSpec.ports": {
    mergeKey: "port",
    strategy: "merge",
    listType: "map",
    mapKeys: ["port", "protocol"],
  },
  "V1ServiceAccount.secrets": { mergeKey: "name", strategy: "merge", listType: "map", mapKeys: ["name"] },
  "V1ObjectMeta.finalizers": { strategy: "merge", listType: "set" },
  "V1ObjectMeta.ownerReferences": { mergeKey: "uid", strategy: "merge", listType: "map", mapKeys: ["uid"] },
  "V1StatefulSetSpec.volumeClaimTemplates": { listType: "atomic" },
};

/** Defaults the real OpenAPI document declares where list-map keys need them (SSA matches items by them). */
const FIELD_DEFAULTS: Record<string, string> = {
  "V1ContainerPort.protocol": "TCP",
  "V1ServicePort.protocol": "TCP",
};

/** Models Kubernetes marks +structType=atomic: applied and owned as one value. */
const ATOMIC_STRUCTS = new Set(["V1LabelSelector", "V1LocalObjectReference"]);

/** Quantity maps are `map[string]string` in the models but accept numbers on the wire. */
const QUANTITY_MAPS = new Set(["limits", "requests", "capacity", "allocatable", "hard", "used", "overhead"]);

const MAP_TYPE = /^\{ \[key: string\]: (.+); \}$/;
const ARRAY_TYPE = /^Array<(.+)>$/;

function schemaForType(owner: string, attribute: Attribute, typeName: string, stack: string[]): Schema {
  const map = MAP_TYPE.exec(typeName);
  if (map?.[1]) {
    if (map[1] === "string" && QUANTITY_MAPS.has(attribute.baseName)) {
      return { type: "object", additionalProperties: { "x-kubernetes-int-or-string": true } };
    }
    return { type: "object", additionalProperties: schemaForType(owner, attribute, map[1], stack) };
  }
  const array = ARRAY_TYPE.exec(typeName);
  if (array?.[1]) {
    const schema: Schema = { type: "array", items: schemaForType(owner, attribute, array[1], stack) };
    const listMetadata =
      LIST_METADATA[`${owner}.${attribute.baseName}`] ??
      (attribute.baseName === "conditions"
        ? { mergeKey: "type", strategy: "merge", listType: "map" as const, mapKeys: ["type"] }
        : undefined);
    if (listMetadata) {
      schema["x-kubernetes-list-type"] = listMetadata.listType;
      if (listMetadata.mapKeys) schema["x-kubernetes-list-map-keys"] = listMetadata.mapKeys;
      if (listMetadata.mergeKey) schema["x-kubernetes-patch-merge-key"] = listMetadata.mergeKey;
      if (listMetadata.strategy) schema["x-kubernetes-patch-strategy"] = listMetadata.strategy;
    }
    return schema;
  }
  switch (typeName) {
    case "string":
      return attribute.format ? { type: "string", format: attribute.format } : { type: "string" };
    case "number":
      return attribute.format === "double"
        ? { type: "number", format: "double" }
        : { type: "integer", format: attribute.format || "int64" };
    case "boolean":
      return { type: "boolean" };
    case "Date":
      return { type: "string", format: "date-time" };
    case "V1MicroTime":
      return { type: "string", format: "date-time" };
    case "IntOrString":
      return { "x-kubernetes-int-or-string": true };
    case "any":
    case "object":
      return { "x-kubernetes-preserve-unknown-fields": true };
    default:
      return builtinModelSchema(typeName, stack);
  }
}

const cache = new Map<string, Schema>();

/** The schema of a client-node model, e.g. "V1Deployment"; recursive models are cut off as "anything". */
export function builtinModelSchema(modelName: string, stack: string[] = []): Schema {
  const cached = cache.get(modelName);
  if (cached) return cached;
  const attributes = modelAttributes(modelName);
  if (!attributes) throw new Error(`no client-node model named ${modelName}`);
  if (stack.includes(modelName)) return { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  const nextStack = [...stack, modelName];
  const properties: Record<string, Schema> = {};
  for (const attribute of attributes) {
    const property = schemaForType(modelName, attribute, attribute.type, nextStack);
    const fallback = FIELD_DEFAULTS[`${modelName}.${attribute.baseName}`];
    properties[attribute.baseName] = fallback === undefined ? property : { ...property, default: fallback };
  }
  const schema: Schema = { type: "object", properties };
  if (ATOMIC_STRUCTS.has(modelName)) schema["x-kubernetes-map-type"] = "atomic";
  if (stack.length === 0) cache.set(modelName, schema);
  return schema;
}
