/** Names and labels of what the operator makes for a RelayPool. Pure. */
import { API_VERSION, RELAY_POOL } from "../api/crds.js";
import type { RelayPool } from "../api/relaypool.js";
import type { OwnerReference } from "../kube/client.js";

export const FIELD_MANAGER = "relayfleet-operator";
export const POOL_LABEL = "relayfleet.io/pool";
export const CONFIG_HASH_ANNOTATION = "relayfleet.io/config-hash";
/** Kubernetes deletes Deployment pods with the lowest cost first: a drained pod gets the lowest. */
export const DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost";
/** A relay chosen to leave: out of DNS from now on; told to drain once the records' TTL has passed. */
export const DRAIN_STARTED_ANNOTATION = "relayfleet.io/drain-started";
/** When the relay was told POST /v1/admin/drain (it refuses new mail from then on). */
export const DRAIN_REQUESTED_ANNOTATION = "relayfleet.io/drain-requested";
/** When a relay that ran out of drain time was told to hand its queue to the others. */
export const HANDOFF_ANNOTATION = "relayfleet.io/handoff-requested";
export const DRAINED_ANNOTATION = "relayfleet.io/drained-at";

export const PORTS = { tracking: 8080, api: 8081, metrics: 9464 } as const;
export const SPOOL_PATH = "/var/spool/relayfleet";
export const CONFIG_PATH = "/etc/relayfleet";
/** The TLS Secret's mount; beside CONFIG_PATH, not inside it (a mount point inside a ConfigMap volume). */
export const TLS_PATH = "/etc/relayfleet-tls";
/** Holds the pool while it is deleted, until its relays are drained (controllers/relaypool/delete.ts). */
export const DRAIN_FINALIZER = "relayfleet.io/drain";
/** On a RelayPool being deleted: when its DNS records were withdrawn (the TTL wait starts there). */
export const DNS_REMOVED_ANNOTATION = "relayfleet.io/dns-removed-at";

export const names = (pool: RelayPool) => ({
  workload: pool.metadata.name,
  config: `${pool.metadata.name}-config`,
  apiToken: `${pool.metadata.name}-api-token`,
  trackingSecret: `${pool.metadata.name}-tracking-secret`,
  smtpService: `${pool.metadata.name}-smtp`,
  trackingService: `${pool.metadata.name}-tracking`,
  relaysService: `${pool.metadata.name}-relays`,
  pdb: pool.metadata.name,
  dns: pool.metadata.name,
  serviceMonitor: pool.metadata.name,
});

/** Selects the pool's relay pods; never changes for a pool (selectors are immutable). */
export function selectorLabels(pool: RelayPool): Record<string, string> {
  return { "app.kubernetes.io/component": "relay", [POOL_LABEL]: pool.metadata.name };
}

export function selectorString(pool: RelayPool): string {
  return Object.entries(selectorLabels(pool))
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

export function commonLabels(pool: RelayPool): Record<string, string> {
  return {
    "app.kubernetes.io/name": "relayfleet",
    "app.kubernetes.io/instance": pool.metadata.name,
    "app.kubernetes.io/managed-by": FIELD_MANAGER,
    ...selectorLabels(pool),
  };
}

/** Makes the pool the controlling owner, so deleting it deletes everything it owns. */
export function ownerReference(pool: RelayPool): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: RELAY_POOL.kind,
    name: pool.metadata.name,
    uid: pool.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function ownedMetadata(pool: RelayPool, name: string, extraLabels: Record<string, string> = {}) {
  return {
    name,
    namespace: pool.metadata.namespace,
    labels: { ...commonLabels(pool), ...extraLabels },
    ownerReferences: [ownerReference(pool)],
  };
}
