/** What every controller gets: I/O passed in, so tests hand in real servers. */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeClient, KubeObject } from "../kube/client.js";
import type { EventRecorder } from "../kube/events.js";
import type { OperatorMetrics } from "../metrics.js";
import type { StoreRegistry } from "./stores.js";

/** Where to reach one relay pod's admin API and metrics. */
export interface RelayAddress {
  api: string;
  metrics: string;
}

export interface ControllerContext {
  kubeConfig: KubeConfig;
  client: KubeClient;
  /** The pools' Redis servers, where SenderRoutes are published and blocked reports read. */
  stores: StoreRegistry;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  fieldManager: string;
  now: () => number;
  /** Default: the pod IP with the relay's fixed ports. */
  relayAddress: (pod: KubeObject & { status?: { podIP?: string } }) => RelayAddress | undefined;
  fetchTimeoutMs: number;
}

export const RELAY_POOLS = { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools" } as const;
export const SENDER_ROUTES = { apiVersion: "relayfleet.io/v1alpha1", plural: "senderroutes" } as const;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** A Secret's data, decoded; undefined when there is no such Secret. */
export async function readSecret(
  ctx: ControllerContext,
  namespace: string,
  name: string,
): Promise<Map<string, string> | undefined> {
  const secret = await ctx.client.find<KubeObject & { data?: Record<string, string> }>(
    { apiVersion: "v1", plural: "secrets", namespace },
    name,
  );
  if (!secret) return undefined;
  return new Map(
    Object.entries(secret.data ?? {}).map(([key, encoded]) => [
      key,
      Buffer.from(encoded, "base64").toString("utf8"),
    ]),
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Deep equality of JSON values, ignoring key order (the server may reorder keys). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  return value;
}
