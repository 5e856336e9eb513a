/**
 * What each controller watches and how a change maps to the key it
 * reconciles: a RelayPool to itself; a relay pod to its pool (by label); a
 * StatefulSet or Deployment to its owning pool; a SenderRoute to itself; a
 * RelayPool to the SenderRoute it uses (the route is published to that
 * pool's Redis); a blocked report in any pool's Redis to every SenderRoute
 * (the pair's sender may be in any of them); a route table changed by
 * someone else to its route, so a hand edit in Redis is put back.
 */
import type { KubeObject } from "../kube/client.js";
import type { InformerOptions } from "../kube/informer.js";
import { objectKey } from "../kube/informer.js";
import { FIELD_MANAGER, POOL_LABEL } from "../specs/labels.js";
import { RELAY_POOLS, SENDER_ROUTES } from "./context.js";

type Watch = Pick<InformerOptions, "ref" | "labelSelector" | "keysFor">;

function owningPool(object: KubeObject): string[] {
  const owner = object.metadata?.ownerReferences?.find((ref) => ref.kind === "RelayPool" && ref.controller);
  return owner ? [`${object.metadata?.namespace}/${owner.name}`] : [];
}

export const poolWatches: Watch[] = [
  { ref: RELAY_POOLS, keysFor: (object) => [objectKey(object)] },
  {
    ref: { apiVersion: "v1", plural: "pods" },
    labelSelector: POOL_LABEL,
    keysFor: (object) => {
      const pool = object.metadata?.labels?.[POOL_LABEL];
      return pool ? [`${object.metadata?.namespace}/${pool}`] : [];
    },
  },
  {
    ref: { apiVersion: "apps/v1", plural: "statefulsets" },
    labelSelector: `app.kubernetes.io/managed-by=${FIELD_MANAGER}`,
    keysFor: owningPool,
  },
  {
    ref: { apiVersion: "apps/v1", plural: "deployments" },
    labelSelector: `app.kubernetes.io/managed-by=${FIELD_MANAGER}`,
    keysFor: owningPool,
  },
];

export const routeWatches: Watch[] = [
  { ref: SENDER_ROUTES, keysFor: (object) => [objectKey(object)] },
  {
    ref: RELAY_POOLS,
    keysFor: (object) => {
      const route = (object.spec as { senderRoute?: unknown } | undefined)?.senderRoute;
      return [`${object.metadata?.namespace}/${typeof route === "string" ? route : "default"}`];
    },
  },
];
