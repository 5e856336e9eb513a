/** Which relays are ready, and the addresses DNS publishes for them. Pure. */
import type { RelayPool } from "../api/relaypool.js";
import type { KubeObject } from "../kube/client.js";
import { DRAIN_STARTED_ANNOTATION, DRAINED_ANNOTATION } from "./labels.js";

export interface PodView extends KubeObject {
  status?: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[];
  };
}

/** Ready, running, not being deleted and not drained: a relay that takes mail. */
export function isServing(pod: PodView): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  // Leaving relays go out of DNS first, before they refuse anything.
  if (pod.metadata?.annotations?.[DRAIN_STARTED_ANNOTATION]) return false;
  if (pod.metadata?.annotations?.[DRAINED_ANNOTATION]) return false;
  if (pod.status?.phase !== "Running") return false;
  return pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The published addresses of the serving relays, sorted and without duplicates. */
export function readyEndpoints(pool: RelayPool, pods: readonly PodView[]): string[] {
  const field = pool.spec.endpointAddress === "podIP" ? "podIP" : "hostIP";
  const addresses = pods
    .filter(isServing)
    .map((pod) => pod.status?.[field])
    .filter((ip): ip is string => typeof ip === "string" && ip !== "");
  return [...new Set(addresses)].sort();
}

export interface ServiceView extends KubeObject {
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

/**
 * The addresses the DNS records publish. spec.service.publishAddresses "nodes": the serving
 * relays' own (readyEndpoints); "loadBalancer": the SMTP Service's load balancer IPs, as long as
 * at least one relay serves behind it (none serving: no records, as for nodes).
 */
export function publishedEndpoints(
  pool: RelayPool,
  pods: readonly PodView[],
  smtpService: ServiceView | undefined,
): { addresses: string[]; problem?: string } {
  const relays = readyEndpoints(pool, pods);
  if (pool.spec.service.publishAddresses !== "loadBalancer") return { addresses: relays };
  const ingress = smtpService?.status?.loadBalancer?.ingress ?? [];
  const ips = [...new Set(ingress.map((entry) => entry.ip).filter((ip): ip is string => !!ip))].sort();
  const name = smtpService?.metadata?.name ?? "the SMTP Service";
  if (ips.length === 0)
    return {
      addresses: [],
      problem: ingress.some((entry) => entry.hostname)
        ? `the load balancer of ${name} has hostnames only; DNS A records need its IPs`
        : `the load balancer of ${name} has no address yet`,
    };
  return { addresses: relays.length > 0 ? ips : [] };
}

/** A StatefulSet pod's ordinal ("pool-3" → 3), or -1. */
export function ordinalOf(pod: KubeObject): number {
  const match = /-(\d+)$/.exec(pod.metadata?.name ?? "");
  return match ? Number(match[1]) : -1;
}

/**
 * The relays a scale-down from `current` to `desired` removes: a StatefulSet
 * removes its highest ordinals; for a Deployment the operator picks (the
 * not-ready first, then the youngest) and steers the ReplicaSet there with
 * pod-deletion-cost.
 */
export function podsToRemove(
  workloadKind: "StatefulSet" | "Deployment",
  pods: readonly PodView[],
  current: number,
  desired: number,
): PodView[] {
  if (desired >= current) return [];
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  if (workloadKind === "StatefulSet")
    return live.filter((pod) => ordinalOf(pod) >= desired).sort((a, b) => ordinalOf(a) - ordinalOf(b));
  const ranked = [...live].sort((a, b) => {
    const readyDiff = Number(isServing(a)) - Number(isServing(b));
    if (readyDiff !== 0) return readyDiff;
    return (b.metadata?.creationTimestamp ?? "").localeCompare(a.metadata?.creationTimestamp ?? "");
  });
  return ranked.slice(0, current - desired);
}
