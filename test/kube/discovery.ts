/**
 * Discovery documents: /version, /api, /apis and per-group-version resource
 * lists, plus the aggregated apidiscovery.k8s.io/v2 (and v2beta1) form that
 * kubectl and helm ask for first.
 */
import type { JsonObject } from "./json.js";
import type { ResourceType } from "./resource-types.js";
import type { TypeRegistry } from "./type-registry.js";

export const SERVER_VERSION = {
  major: "1",
  minor: "34",
  gitVersion: "v1.34.0",
  gitCommit: "relayfleet-test-apiserver",
  gitTreeState: "clean",
  buildDate: "2025-08-27T00:00:00Z",
  goVersion: "go1.24.6",
  compiler: "gc",
  platform: "linux/amd64",
};

function subresourceVerbs(sub: "status" | "scale"): string[] {
  return sub === "status" ? ["get", "patch", "update"] : ["get", "patch", "update"];
}

export function resourceList(types: ResourceType[], groupVersion: string): JsonObject {
  const resources: JsonObject[] = [];
  for (const type of types) {
    resources.push({
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: type.verbs,
      ...(type.shortNames.length ? { shortNames: type.shortNames } : {}),
      ...(type.categories.length ? { categories: type.categories } : {}),
    });
    if (type.statusSubresource) {
      resources.push({
        name: `${type.plural}/status`,
        singularName: "",
        namespaced: type.namespaced,
        kind: type.kind,
        verbs: subresourceVerbs("status"),
      });
    }
    if (type.scale) {
      resources.push({
        name: `${type.plural}/scale`,
        singularName: "",
        namespaced: type.namespaced,
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: subresourceVerbs("scale"),
      });
    }
    for (const sub of type.extraSubresources ?? []) {
      resources.push({
        name: `${type.plural}/${sub.name}`,
        singularName: "",
        namespaced: type.namespaced,
        group: sub.group,
        version: sub.version,
        kind: sub.kind,
        verbs: sub.verbs,
      });
    }
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources };
}

export function apiVersions(serverAddress: string): JsonObject {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function groupObject(group: { name: string; versions: string[]; preferred: string }): JsonObject {
  const version = (v: string) => ({ groupVersion: `${group.name}/${v}`, version: v });
  return {
    name: group.name,
    versions: group.versions.map(version),
    preferredVersion: version(group.preferred),
  };
}

export function apiGroupList(registry: TypeRegistry): JsonObject {
  return { kind: "APIGroupList", apiVersion: "v1", groups: registry.groups().map(groupObject) };
}

export function apiGroup(registry: TypeRegistry, name: string): JsonObject | undefined {
  const group = registry.groups().find((candidate) => candidate.name === name);
  return group ? { kind: "APIGroup", apiVersion: "v1", ...groupObject(group) } : undefined;
}

function aggregatedResource(type: ResourceType): JsonObject {
  const subresources: JsonObject[] = [];
  if (type.statusSubresource) {
    subresources.push({
      subresource: "status",
      responseKind: { group: type.group, version: type.version, kind: type.kind },
      verbs: subresourceVerbs("status"),
    });
  }
  if (type.scale) {
    subresources.push({
      subresource: "scale",
      responseKind: { group: "autoscaling", version: "v1", kind: "Scale" },
      verbs: subresourceVerbs("scale"),
    });
  }
  for (const sub of type.extraSubresources ?? []) {
    subresources.push({
      subresource: sub.name,
      responseKind: { group: sub.group, version: sub.version, kind: sub.kind },
      verbs: sub.verbs,
    });
  }
  return {
    resource: type.plural,
    responseKind: { group: type.group, version: type.version, kind: type.kind },
    scope: type.namespaced ? "Namespaced" : "Cluster",
    singularResource: type.singular,
    verbs: type.verbs,
    ...(type.shortNames.length ? { shortNames: type.shortNames } : {}),
    ...(type.categories.length ? { categories: type.categories } : {}),
    ...(subresources.length ? { subresources } : {}),
  };
}

/** APIGroupDiscoveryList for /api (core only) or /apis (every named group). */
export function aggregatedDiscovery(registry: TypeRegistry, core: boolean, apiVersion: string): JsonObject {
  const groups = core ? [{ name: "", versions: ["v1"], preferred: "v1" }] : registry.groups();
  const items = groups.map((group) => ({
    metadata: (group.name
      ? { name: group.name, creationTimestamp: null }
      : { creationTimestamp: null }) as JsonObject,
    versions: group.versions.map((version) => ({
      version,
      resources: registry
        .all()
        .filter((type) => type.group === group.name && type.version === version)
        .map(aggregatedResource),
      freshness: "Current",
    })),
  }));
  return { kind: "APIGroupDiscoveryList", apiVersion, metadata: {}, items };
}

export function typesInGroupVersion(registry: TypeRegistry, group: string, version: string): ResourceType[] {
  return registry.all().filter((type) => type.group === group && type.version === version);
}
