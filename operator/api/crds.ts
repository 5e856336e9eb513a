/**
 * The CustomResourceDefinitions, built from the same schemas the operator's
 * types come from. `npx tsx operator/api/write-crds.ts` writes them to
 * crds/; a test checks the files there match.
 */
import { stringify } from "yaml";
import { relayPoolSpecSchema, relayPoolStatusSchema } from "./relaypool.js";
import type { JsonSchema } from "./schema.js";
import { senderRouteSpecSchema, senderRouteStatusSchema } from "./senderroute.js";

export const GROUP = "relayfleet.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface KindNames {
  kind: string;
  plural: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
}

export const RELAY_POOL: KindNames = {
  kind: "RelayPool",
  plural: "relaypools",
  singular: "relaypool",
  listKind: "RelayPoolList",
  shortNames: ["rp"],
  categories: ["relayfleet", "all"],
};

export const SENDER_ROUTE: KindNames = {
  kind: "SenderRoute",
  plural: "senderroutes",
  singular: "senderroute",
  listKind: "SenderRouteList",
  shortNames: ["sr"],
  categories: ["relayfleet"],
};

interface Column {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

function crd(
  names: KindNames,
  spec: JsonSchema,
  status: JsonSchema,
  columns: Column[],
  subresources: JsonSchema,
): JsonSchema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources,
          additionalPrinterColumns: columns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

const AGE: Column = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export function relayPoolCrd(): JsonSchema {
  return crd(
    RELAY_POOL,
    relayPoolSpecSchema.openapi,
    relayPoolStatusSchema.openapi,
    [
      {
        name: "Desired",
        type: "integer",
        jsonPath: ".status.desiredReplicas",
        description: "Replicas wanted",
      },
      {
        name: "Ready",
        type: "integer",
        jsonPath: ".status.readyReplicas",
        description: "Relays taking mail",
      },
      { name: "Mode", type: "string", jsonPath: ".spec.mode" },
      {
        name: "Endpoints",
        type: "string",
        jsonPath: ".status.endpoints",
        description: "Published A records",
      },
      { name: "Hostname", type: "string", jsonPath: ".spec.hostname", priority: 1 },
      AGE,
    ],
    {
      status: {},
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    },
  );
}

export function senderRouteCrd(): JsonSchema {
  return crd(
    SENDER_ROUTE,
    senderRouteSpecSchema.openapi,
    senderRouteStatusSchema.openapi,
    [
      { name: "Policy", type: "string", jsonPath: ".spec.policy" },
      {
        name: "Blocked",
        type: "integer",
        jsonPath: ".status.blockedCount",
        description: "Pairs routed around",
      },
      { name: "Published", type: "integer", jsonPath: ".status.publishedGeneration" },
      AGE,
    ],
    { status: {} },
  );
}

const HEADER =
  "# Generated from operator/api/*.ts by `npx tsx operator/api/write-crds.ts`; edit those, not this file.\n";

export function crdFiles(): Record<string, string> {
  return {
    "relayfleet.io_relaypools.yaml": HEADER + stringify(relayPoolCrd(), { lineWidth: 0 }),
    "relayfleet.io_senderroutes.yaml": HEADER + stringify(senderRouteCrd(), { lineWidth: 0 }),
  };
}
