/**
 * What the server knows about each kind it serves: names for discovery, scope,
 * subresources, and where its schema comes from. Built-ins are listed here;
 * CustomResourceDefinitions add more at run time (see crd.ts).
 */
import type { JsonObject } from "./json.js";
import type { Schema } from "./schema.js";

export interface ScaleSubresource {
  /** JSON paths like ".spec.replicas", as a CRD's scale subresource names them. */
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
  /** Built-in columns computed in code (READY 1/3), where a JSONPath cannot say it. */
  compute?: (object: JsonObject) => string | number;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** status is a subresource: the main resource ignores status, /status ignores everything else. */
  statusSubresource: boolean;
  scale?: ScaleSubresource;
  printerColumns: PrinterColumn[];
  /** The structural schema of the whole object (built-ins: derived from client-node's models). */
  schema: Schema;
  /** Set for custom resources: the CRD that serves them. */
  crdName?: string;
  /** The version objects are stored at; other served versions differ only in apiVersion (conversion None). */
  storageVersion: string;
  /** Whether unknown fields are dropped before storing (custom resources) or refused/warned. */
  builtin: boolean;
  /** The client-node model of a built-in kind, e.g. "V1Deployment" (names its OpenAPI component). */
  modelName?: string;
  /** Subresources besides status and scale, for discovery (serviceaccounts/token). */
  extraSubresources?: { name: string; group: string; version: string; kind: string; verbs: string[] }[];
  /** Custom resources: extra fieldSelector paths from the CRD's selectableFields. */
  selectableFields?: string[];
}

export const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

export function apiVersionOf(type: Pick<ResourceType, "group" | "version">): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** Storage identity: every version of a resource shares it. */
export function resourceKey(type: Pick<ResourceType, "group" | "plural">): string {
  return `${type.group}/${type.plural}`;
}
