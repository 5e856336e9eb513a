/**
 * Services, PodDisruptionBudget, ServiceMonitor and the ExternalDNS
 * DNSEndpoint of a pool. Pure.
 *
 * Client addresses: a relay decides who may relay by the client's IP
 * (allowedIps), so the SMTP Service must never hide it behind SNAT. With
 * clientIp.preserve "local" the Service uses externalTrafficPolicy Local; with
 * "proxyProtocol" the load balancer sends a PROXY header that the relays
 * trust only from clientIp.proxyFrom.
 */
import { isIP } from "node:net";
import type { RelayPool } from "../api/relaypool.js";
import type { KubeObject } from "../kube/client.js";
import { names, ownedMetadata, PORTS, selectorLabels } from "./labels.js";

export function smtpService(pool: RelayPool): KubeObject {
  const { spec } = pool;
  const external = spec.service.type !== "ClusterIP";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      ...ownedMetadata(pool, names(pool).smtpService),
      ...(spec.service.annotations ? { annotations: spec.service.annotations } : {}),
    },
    spec: {
      type: spec.service.type,
      selector: selectorLabels(pool),
      ...(external
        ? { externalTrafficPolicy: spec.clientIp.preserve === "local" ? "Local" : "Cluster" }
        : {}),
      ports: spec.smtpPorts.map((port) => ({
        name: `smtp-${port}`,
        port,
        targetPort: `smtp-${port}`,
        protocol: "TCP",
      })),
    },
  };
}

export function trackingService(pool: RelayPool): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: ownedMetadata(pool, names(pool).trackingService),
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(pool),
      ports: [{ name: "http", port: 80, targetPort: "tracking", protocol: "TCP" }],
    },
  };
}

/** Headless: the StatefulSet's service, and how Prometheus and the operator reach each relay, draining ones included. */
export function relaysService(pool: RelayPool): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: ownedMetadata(pool, names(pool).relaysService, { "relayfleet.io/service": "relays" }),
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: selectorLabels(pool),
      ports: [
        { name: "api", port: PORTS.api, targetPort: "api", protocol: "TCP" },
        { name: "metrics", port: PORTS.metrics, targetPort: "metrics", protocol: "TCP" },
      ],
    },
  };
}

export function podDisruptionBudget(pool: RelayPool): KubeObject {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: ownedMetadata(pool, names(pool).pdb),
    spec: {
      maxUnavailable: pool.spec.podDisruptionBudget.maxUnavailable,
      selector: { matchLabels: selectorLabels(pool) },
    },
  };
}

export function serviceMonitor(pool: RelayPool): KubeObject {
  const metadata = ownedMetadata(pool, names(pool).serviceMonitor);
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    // The user's labels (what a Prometheus selects by) never replace the ones the operator owns.
    metadata: { ...metadata, labels: { ...(pool.spec.serviceMonitorLabels ?? {}), ...metadata.labels } },
    spec: {
      selector: {
        matchLabels: { ...selectorLabels(pool), "relayfleet.io/service": "relays" },
      },
      endpoints: [{ port: "metrics", path: "/metrics", interval: "15s" }],
    },
  };
}

/**
 * One A record set (and one AAAA set for IPv6 relays) for spec.hostname.
 * With no ready relay the endpoint list is empty, so ExternalDNS removes
 * the record set: an empty target list would make it publish its defaults.
 */
export function dnsEndpoint(pool: RelayPool, targets: readonly string[]): KubeObject | undefined {
  const { hostname, dnsTTL } = pool.spec;
  if (!hostname) return undefined;
  const sorted = [...new Set(targets)].sort();
  const v4 = sorted.filter((ip) => isIP(ip) === 4);
  const v6 = sorted.filter((ip) => isIP(ip) === 6);
  const record = (recordType: string, list: string[]) => ({
    dnsName: hostname,
    recordType,
    recordTTL: dnsTTL,
    targets: list,
  });
  return {
    apiVersion: "externaldns.k8s.io/v1alpha1",
    kind: "DNSEndpoint",
    metadata: ownedMetadata(pool, names(pool).dns),
    spec: {
      endpoints: [
        ...(v4.length > 0 ? [record("A", v4)] : []),
        ...(v6.length > 0 ? [record("AAAA", v6)] : []),
      ],
    },
  };
}
