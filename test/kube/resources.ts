/**
 * HTTP verbs on resource paths: list/watch/create/deletecollection on
 * collections; get/update/patch/delete on objects; the status and scale
 * subresources. Decisions live in objects.ts; this maps requests to them.
 */
import type { ServerResponse } from "node:http";
import { parseFieldValidation } from "./admission.js";
import { ApiError, badRequest, invalid, methodNotAllowed, notFound } from "./errors.js";
import { child, isObject, type Json, type JsonObject, numberAt, objectAt, stringMap } from "./json.js";
import type { DeleteOptions } from "./lifecycle.js";
import type { ObjectService, PatchType, WriteOptions } from "./objects.js";
import { apiVersionOf, type ResourceType, resourceKey } from "./resource-types.js";
import { labelSelectorText, parseFieldSelector, parseLabelSelector, selectableFields } from "./selectors.js";
import { type IncludeObject, toTable } from "./table.js";
import { serveWatch, type WatchRegistry } from "./watch.js";

export interface ResourceRequest {
  method: string;
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
  contentType: string;
  body: string;
  wantsTable: boolean;
  userAgent: string;
}

export interface Reply {
  status: number;
  body: JsonObject;
  warnings?: string[];
}

export interface ResourceContext {
  objects: ObjectService;
  watches: WatchRegistry;
  bookmarkIntervalMs: number;
}

/** fieldSelector paths each kind supports besides metadata.name and metadata.namespace. */
const EXTRA_FIELD_SELECTORS: Record<string, string[]> = {
  Pod: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  Event: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  Secret: ["type"],
  Namespace: ["status.phase"],
};

function objectMatcher(request: ResourceRequest): (object: JsonObject) => boolean {
  const { type } = request;
  const labels = parseLabelSelector(request.query.get("labelSelector"));
  const fieldPaths = [
    "metadata.name",
    "metadata.namespace",
    ...(type.builtin ? (EXTRA_FIELD_SELECTORS[type.kind] ?? []) : (type.selectableFields ?? [])),
  ];
  const fields = parseFieldSelector(request.query.get("fieldSelector"), fieldPaths);
  return (object) => {
    if (
      type.namespaced &&
      request.namespace !== undefined &&
      objectAt(object, "metadata")?.namespace !== request.namespace
    )
      return false;
    return (
      labels(stringMap(objectAt(object, "metadata")?.labels)) && fields(selectableFields(object, fieldPaths))
    );
  };
}

function writeOptions(request: ResourceRequest): WriteOptions & { force: boolean } {
  const dryRun = request.query.getAll("dryRun");
  if (dryRun.some((value) => value !== "All")) throw badRequest(`Invalid dryRun value: ${dryRun.join(",")}`);
  // Without fieldManager the server names the manager after the user agent's product ("kubectl/v1.34 ..." → kubectl).
  const fieldManager =
    request.query.get("fieldManager") ?? (request.userAgent.split("/")[0]?.slice(0, 128) || undefined);
  return {
    dryRun: dryRun.length > 0,
    ...(fieldManager ? { fieldManager } : {}),
    fieldValidation: parseFieldValidation(request.query.get("fieldValidation")),
    warnings: [],
    force: request.query.get("force") === "true",
  };
}

function parseBody(request: ResourceRequest): JsonObject {
  if (request.body.trim() === "") throw badRequest("the request body is empty");
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch (error) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw badRequest("the request body must be a JSON object");
  return parsed;
}

export function patchTypeOf(contentType: string, type: ResourceType): PatchType {
  const media = contentType.split(";")[0]?.trim() ?? "";
  if (media === "application/json-patch+json") return "json";
  if (media === "application/merge-patch+json") return "merge";
  if (media === "application/strategic-merge-patch+json" && type.builtin) return "strategic";
  if (media === "application/apply-patch+yaml") return "apply";
  throw new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${type.builtin ? ", application/strategic-merge-patch+json" : ""}`,
  );
}

function includeObject(query: URLSearchParams): IncludeObject {
  const value = query.get("includeObject");
  return value === "None" || value === "Object" ? value : "Metadata";
}

function listResponse(context: ResourceContext, request: ResourceRequest): JsonObject {
  const { type } = request;
  const all = context.objects.list(type, request.namespace).filter(objectMatcher(request));
  const limit = Number(request.query.get("limit") ?? "0");
  const token = request.query.get("continue");
  let offset = 0;
  if (token) {
    const decoded: unknown = JSON.parse(Buffer.from(token, "base64").toString("utf8"));
    offset = isObject(decoded) && typeof decoded.offset === "number" ? decoded.offset : 0;
  }
  const items = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
  const metadata: JsonObject = { resourceVersion: String(context.objects.storage.currentRevision()) };
  if (limit > 0 && offset + limit < all.length) {
    metadata.continue = Buffer.from(JSON.stringify({ offset: offset + limit })).toString("base64");
    metadata.remainingItemCount = all.length - offset - limit;
  }
  if (request.wantsTable) return toTable(type, items, includeObject(request.query), metadata);
  return { kind: type.listKind, apiVersion: apiVersionOf(type), metadata, items };
}

function scaleOf(type: ResourceType, object: JsonObject): JsonObject {
  const scale = type.scale;
  if (!scale) throw notFound(type, String(objectAt(object, "metadata")?.name));
  const read = (path: string): Json | undefined => {
    let current: Json | undefined = object;
    for (const key of path.replace(/^\./, "").split("."))
      current = isObject(current) ? current[key] : undefined;
    return current;
  };
  const metadata = objectAt(object, "metadata") ?? {};
  const selector = scale.labelSelectorPath ? labelSelectorText(read(scale.labelSelectorPath)) : "";
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: metadata.name ?? "",
      ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
      uid: metadata.uid ?? "",
      resourceVersion: metadata.resourceVersion ?? "",
      creationTimestamp: metadata.creationTimestamp ?? null,
    },
    spec: { replicas: Number(read(scale.specReplicasPath) ?? 0) },
    status: { replicas: Number(read(scale.statusReplicasPath) ?? 0), ...(selector ? { selector } : {}) },
  };
}

function writeScale(
  context: ResourceContext,
  request: ResourceRequest,
  name: string,
  scale: JsonObject,
  options: WriteOptions,
): JsonObject {
  const { type } = request;
  const replicas = numberAt(scale, "spec", "replicas");
  const scaleType = { group: "autoscaling", kind: "Scale" };
  if (replicas === undefined || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid(scaleType, name, [
      {
        reason: "FieldValueInvalid",
        field: "spec.replicas",
        detail: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`,
      },
    ]);
  }
  const current = context.objects.get(type, request.namespace, name);
  const requested = objectAt(scale, "metadata")?.resourceVersion;
  const target = structuredClone(current);
  if (typeof requested === "string" && requested !== "")
    child(target, "metadata").resourceVersion = requested;
  const path = (type.scale?.specReplicasPath ?? ".spec.replicas").replace(/^\./, "").split(".");
  let holder = target;
  for (const key of path.slice(0, -1)) holder = child(holder, key);
  holder[path.at(-1) ?? "replicas"] = replicas;
  const updated = context.objects.update(type, request.namespace, name, target, options);
  return scaleOf(type, updated);
}

function deleteOptionsOf(request: ResourceRequest): DeleteOptions {
  const body = request.body.trim() ? parseBody(request) : {};
  const policy =
    request.query.get("propagationPolicy") ??
    (typeof body.propagationPolicy === "string" ? body.propagationPolicy : undefined);
  if (policy !== undefined && policy !== "Background" && policy !== "Foreground" && policy !== "Orphan") {
    throw badRequest(
      `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
    );
  }
  const orphan = request.query.get("orphanDependents") === "true" || body.orphanDependents === true;
  const preconditions = objectAt(body, "preconditions");
  const dryRun =
    request.query.getAll("dryRun").length > 0 || (Array.isArray(body.dryRun) && body.dryRun.length > 0);
  return {
    ...(policy ? { propagationPolicy: policy } : orphan ? { propagationPolicy: "Orphan" as const } : {}),
    ...(preconditions
      ? {
          preconditions: {
            ...(typeof preconditions.uid === "string" ? { uid: preconditions.uid } : {}),
            ...(typeof preconditions.resourceVersion === "string"
              ? { resourceVersion: preconditions.resourceVersion }
              : {}),
          },
        }
      : {}),
    dryRun,
  };
}

/** Handles one resource request; returns the reply, or undefined when it streamed a watch itself. */
export function handleResource(
  context: ResourceContext,
  request: ResourceRequest,
  response: ServerResponse,
): Reply | undefined {
  const { type, method, name, subresource, namespace } = request;
  const { objects } = context;
  if (subresource && subresource !== "status" && !(subresource === "scale" && type.scale))
    throw notFound(type, name ?? "");
  if (subresource === "status" && !type.statusSubresource) throw notFound(type, name ?? "");
  const present = (object: JsonObject) =>
    request.wantsTable ? toTable(type, [object], includeObject(request.query), {}) : object;

  if (name === undefined) {
    const watch = request.query.get("watch");
    if (method === "GET" && (watch === "true" || watch === "1")) {
      const timeout = request.query.get("timeoutSeconds");
      serveWatch(
        objects.storage,
        {
          resource: resourceKey(type),
          resourceVersion: request.query.get("resourceVersion"),
          allowBookmarks: request.query.get("allowWatchBookmarks") === "true",
          sendInitialEvents: request.query.get("sendInitialEvents") === "true",
          ...(timeout ? { timeoutSeconds: Number(timeout) } : {}),
          initialObjects: () => objects.list(type, namespace),
          matches: objectMatcher(request),
          present: (object) => present({ ...object, apiVersion: apiVersionOf(type), kind: type.kind }),
          bookmark: (resourceVersion, end) => ({
            kind: type.kind,
            apiVersion: apiVersionOf(type),
            metadata: {
              resourceVersion,
              ...(end ? { annotations: { "k8s.io/initial-events-end": "true" } } : {}),
            },
          }),
          bookmarkIntervalMs: context.bookmarkIntervalMs,
        },
        response,
        context.watches,
      );
      return undefined;
    }
    if (method === "GET") return { status: 200, body: listResponse(context, request) };
    if (method === "POST") {
      const options = writeOptions(request);
      const created = objects.create(type, namespace, parseBody(request), options);
      return { status: 201, body: created, warnings: options.warnings ?? [] };
    }
    if (method === "DELETE") {
      const matches = objectMatcher(request);
      const options = deleteOptionsOf(request);
      const deleted = objects
        .list(type, namespace)
        .filter(matches)
        .map((object) =>
          objects.delete(
            type,
            String(objectAt(object, "metadata")?.namespace ?? namespace ?? ""),
            String(objectAt(object, "metadata")?.name),
            options,
          ),
        );
      return {
        status: 200,
        body: { kind: type.listKind, apiVersion: apiVersionOf(type), metadata: {}, items: deleted },
      };
    }
    throw methodNotAllowed(method);
  }

  if (subresource === "scale") {
    if (method === "GET") return { status: 200, body: scaleOf(type, objects.get(type, namespace, name)) };
    const options = { ...writeOptions(request), recordedSubresource: "scale" };
    if (method === "PUT")
      return { status: 200, body: writeScale(context, request, name, parseBody(request), options) };
    if (method === "PATCH") {
      const current = scaleOf(type, objects.get(type, namespace, name));
      const patched = applyScalePatch(current, patchTypeOf(request.contentType, type), request.body);
      return { status: 200, body: writeScale(context, request, name, patched, options) };
    }
    throw methodNotAllowed(method);
  }

  if (method === "GET") return { status: 200, body: present(objects.get(type, namespace, name)) };
  if (method === "PUT") {
    const options = writeOptions(request);
    const updated = objects.update(type, namespace, name, parseBody(request), options, subresource);
    return { status: 200, body: updated, warnings: options.warnings ?? [] };
  }
  if (method === "PATCH") {
    const patchType = patchTypeOf(request.contentType, type);
    const options = writeOptions(request);
    // Apply names its manager explicitly; the user-agent fallback is for the other verbs only.
    if (patchType === "apply") options.fieldManager = request.query.get("fieldManager") ?? undefined;
    const existed = objects.find(type, namespace, name) !== undefined;
    const patched = objects.patch(type, namespace, name, patchType, request.body, options, subresource);
    return { status: existed ? 200 : 201, body: patched, warnings: options.warnings ?? [] };
  }
  if (method === "DELETE" && !subresource) {
    return { status: 200, body: objects.delete(type, namespace, name, deleteOptionsOf(request)) };
  }
  throw methodNotAllowed(method);
}

function applyScalePatch(current: JsonObject, patchType: PatchType, body: string): JsonObject {
  const parsed: unknown = patchType === "apply" ? undefined : JSON.parse(body);
  if (patchType === "merge" || patchType === "strategic") {
    const replicas = isObject(parsed) ? objectAt(parsed as JsonObject, "spec")?.replicas : undefined;
    return replicas === undefined ? current : { ...current, spec: { replicas } };
  }
  if (patchType === "json" && Array.isArray(parsed)) {
    const replace = parsed.find((op) => isObject(op) && op.path === "/spec/replicas");
    return isObject(replace) ? { ...current, spec: { replicas: replace.value ?? null } } : current;
  }
  throw new ApiError(
    415,
    "UnsupportedMediaType",
    "apply patches on the scale subresource are not supported by this test server",
  );
}
