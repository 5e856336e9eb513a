/**
 * OpenAPI documents: the v3 index and per-group-version documents (kubectl
 * reads them to learn that the server validates fields itself, `kubectl
 * explain` reads the schemas), and a v2 document for older clients.
 */
import { createHash } from "node:crypto";
import { builtinModelSchema } from "./builtin-schemas.js";
import type { Json, JsonObject } from "./json.js";
import type { ResourceType } from "./resource-types.js";
import type { Schema } from "./schema.js";
import type { TypeRegistry } from "./type-registry.js";

const GROUP_PACKAGES: Record<string, string> = {
  "": "io.k8s.api.core",
  apps: "io.k8s.api.apps",
  "discovery.k8s.io": "io.k8s.api.discovery",
  policy: "io.k8s.api.policy",
  autoscaling: "io.k8s.api.autoscaling",
  "coordination.k8s.io": "io.k8s.api.coordination",
  "rbac.authorization.k8s.io": "io.k8s.api.rbac",
  "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
};

export function definitionName(type: ResourceType, kind = type.kind): string {
  const prefix = GROUP_PACKAGES[type.group] ?? type.group.split(".").reverse().join(".");
  return `${prefix}.${type.version}.${kind}`;
}

/** The directory the v3 index names a group version by: "api/v1" or "apis/apps/v1". */
export function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function objectSchema(type: ResourceType): Schema {
  const gvk = [{ group: type.group, version: type.version, kind: type.kind }];
  return {
    ...type.schema,
    type: "object",
    properties: {
      ...type.schema.properties,
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: builtinModelSchema("V1ObjectMeta"),
    },
    "x-kubernetes-group-version-kind": gvk,
  } as Schema;
}

function parameter(name: string, where: "query" | "path", v3: boolean): JsonObject {
  const base: JsonObject = {
    name,
    in: where,
    uniqueItems: true,
    ...(where === "path" ? { required: true } : {}),
  };
  return v3
    ? { ...base, schema: { type: name === "force" ? "boolean" : "string" } }
    : { ...base, type: name === "force" ? "boolean" : "string" };
}

const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/apply-patch+yaml",
];

function operations(
  type: ResourceType,
  ref: string,
  v3: boolean,
  scope: "item" | "collection" | "status" | "scale",
): JsonObject {
  const gvk = { group: type.group, version: type.version, kind: scope === "scale" ? "Scale" : type.kind };
  const query = (names: string[]) => names.map((name) => parameter(name, "query", v3));
  const write = query(["dryRun", "fieldManager", "fieldValidation", "pretty"]);
  const body = (contentTypes: string[]): JsonObject =>
    v3
      ? {
          requestBody: {
            content: Object.fromEntries(
              contentTypes.map((contentType) => [contentType, { schema: { $ref: ref } }]),
            ),
            required: true,
          },
        }
      : { consumes: contentTypes };
  const ok: JsonObject = v3
    ? {
        responses: {
          "200": { description: "OK", content: { "application/json": { schema: { $ref: ref } } } },
        },
      }
    : { responses: { "200": { description: "OK", schema: { $ref: ref } } } };
  const op = (action: string, verb: string, extra: JsonObject, parameters: JsonObject[]): JsonObject => ({
    operationId: `${verb}${type.kind}${scope === "status" ? "Status" : scope === "scale" ? "Scale" : ""}`,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
    parameters,
    ...extra,
    ...ok,
  });
  if (scope === "collection") {
    return {
      get: op(
        "list",
        "list",
        {},
        query(["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]),
      ),
      post: op("post", "create", body(["application/json", "application/yaml"]), write),
      delete: op(
        "deletecollection",
        "deleteCollection",
        {},
        query(["labelSelector", "fieldSelector", "dryRun"]),
      ),
    };
  }
  const patchTypes = type.builtin ? [...PATCH_TYPES, "application/strategic-merge-patch+json"] : PATCH_TYPES;
  return {
    get: op("get", "read", {}, query(["pretty"])),
    put: op("put", "replace", body(["application/json", "application/yaml"]), write),
    patch: op("patch", "patch", body(patchTypes), [...write, ...query(["force"])]),
    ...(scope === "item"
      ? { delete: op("delete", "delete", {}, query(["dryRun", "gracePeriodSeconds", "propagationPolicy"])) }
      : {}),
  };
}

function pathsFor(type: ResourceType, ref: (kind: string) => string, v3: boolean): JsonObject {
  const prefix = `/${groupVersionPath(type.group, type.version)}`;
  const base = type.namespaced
    ? `${prefix}/namespaces/{namespace}/${type.plural}`
    : `${prefix}/${type.plural}`;
  const pathParams = (withName: boolean) => [
    ...(type.namespaced ? [parameter("namespace", "path", v3)] : []),
    ...(withName ? [parameter("name", "path", v3)] : []),
  ];
  const paths: JsonObject = {
    [base]: { ...operations(type, ref(type.listKind), v3, "collection"), parameters: pathParams(false) },
    [`${base}/{name}`]: { ...operations(type, ref(type.kind), v3, "item"), parameters: pathParams(true) },
  };
  if (type.statusSubresource)
    paths[`${base}/{name}/status`] = {
      ...operations(type, ref(type.kind), v3, "status"),
      parameters: pathParams(true),
    };
  if (type.scale)
    paths[`${base}/{name}/scale`] = {
      ...operations(type, ref("Scale"), v3, "scale"),
      parameters: pathParams(true),
    };
  return paths;
}

function listSchema(type: ResourceType, itemRef: string): Schema {
  return {
    type: "object",
    required: ["items"],
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: builtinModelSchema("V1ListMeta"),
      items: { type: "array", items: { $ref: itemRef } as Schema },
    },
    "x-kubernetes-group-version-kind": [{ group: type.group, version: type.version, kind: type.listKind }],
  } as Schema;
}

const SCALE_NAME = "io.k8s.api.autoscaling.v1.Scale";

function schemasFor(types: ResourceType[], refPrefix: string): Record<string, Json> {
  const schemas: Record<string, Json> = {};
  for (const type of types) {
    schemas[definitionName(type)] = objectSchema(type) as unknown as Json;
    schemas[definitionName(type, type.listKind)] = listSchema(
      type,
      `${refPrefix}${definitionName(type)}`,
    ) as unknown as Json;
    if (type.scale) schemas[SCALE_NAME] = builtinModelSchema("V1Scale") as unknown as Json;
  }
  return schemas;
}

function refResolver(refPrefix: string) {
  return (type: ResourceType) => (kind: string) =>
    kind === "Scale" ? `${refPrefix}${SCALE_NAME}` : `${refPrefix}${definitionName(type, kind)}`;
}

export function openApiV3Document(
  registry: TypeRegistry,
  group: string,
  version: string,
): JsonObject | undefined {
  const types = registry.all().filter((type) => type.group === group && type.version === version);
  if (types.length === 0) return undefined;
  const refPrefix = "#/components/schemas/";
  const refs = refResolver(refPrefix);
  const paths: JsonObject = {};
  for (const type of types) Object.assign(paths, pathsFor(type, refs(type), true));
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.34.0" },
    paths,
    components: { schemas: schemasFor(types, refPrefix) },
  };
}

export function openApiV3Index(registry: TypeRegistry): JsonObject {
  const paths: JsonObject = {};
  const seen = new Set<string>();
  for (const type of registry.all()) {
    const path = groupVersionPath(type.group, type.version);
    if (seen.has(path)) continue;
    seen.add(path);
    const document = openApiV3Document(registry, type.group, type.version);
    const hash = createHash("sha512")
      .update(JSON.stringify(document))
      .digest("hex")
      .slice(0, 128)
      .toUpperCase();
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  }
  return { paths };
}

export function openApiV2Document(registry: TypeRegistry): JsonObject {
  const types = registry.all();
  const refPrefix = "#/definitions/";
  const refs = refResolver(refPrefix);
  const paths: JsonObject = {};
  for (const type of types) Object.assign(paths, pathsFor(type, refs(type), false));
  return {
    swagger: "2.0",
    info: { title: "Kubernetes", version: "v1.34.0" },
    paths,
    definitions: schemasFor(types, refPrefix),
  };
}
