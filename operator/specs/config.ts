/**
 * A relay pod's configuration, rendered from the pool (relay/config/schema.ts
 * reads it). Secrets never go into the ConfigMap: the Redis URL and the admin
 * token and the tracking key reach the relay as environment variables from
 * Secrets (REDIS_URL, RELAYFLEET_API_TOKEN, RELAYFLEET_TRACKING_SECRET, see
 * relay/config/load.ts). Pure.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { type RelayPool, SMTPS_PORT } from "../api/relaypool.js";
import type { KubeObject } from "../kube/client.js";
import { names, ownedMetadata, PORTS, SPOOL_PATH, TLS_PATH } from "./labels.js";

type Json = Record<string, unknown>;
const isPlainObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * `owned` merged over `settings`: objects merge key by key, anything else (lists included) is
 * taken whole from `owned` where it has the key. The operator's keys come first in the result.
 */
export function mergeOwnedOver(settings: Json, owned: Json): Json {
  const merged: Json = {};
  for (const [key, value] of Object.entries(owned)) {
    const theirs = settings[key];
    merged[key] = isPlainObject(value) && isPlainObject(theirs) ? mergeOwnedOver(theirs, value) : value;
  }
  for (const [key, value] of Object.entries(settings)) if (!(key in owned)) merged[key] = value;
  return merged;
}

/** The relay's listeners: 465 is implicit TLS (listen.smtps), every other SMTP port plain/STARTTLS. */
function smtpListeners(ports: readonly number[]): Json {
  const plain = ports.filter((port) => port !== SMTPS_PORT);
  return {
    ...(plain.length > 0 ? { smtp: plain.map((port) => `0.0.0.0:${port}`) } : {}),
    ...(ports.includes(SMTPS_PORT) ? { smtps: [`0.0.0.0:${SMTPS_PORT}`] } : {}),
  };
}

/**
 * The rendered relay.yaml: spec.relay (the pool's relay settings, relay/config/schema.ts names),
 * with what the operator derives from the rest of the spec merged over it, so the operator's keys
 * win: listeners, paths, TLS files, the Store, the default route, the shutdown hand-off.
 */
export function relayConfig(pool: RelayPool): Record<string, unknown> {
  const { spec } = pool;
  const settings = (spec.relay ?? {}) as Json;
  const owned: Json = {
    hostname: spec.hostname?.replace(/^\*\./, "") ?? `${pool.metadata.name}.${pool.metadata.namespace}`,
    listen: {
      ...smtpListeners(spec.smtpPorts),
      tracking: `0.0.0.0:${PORTS.tracking}`,
      api: `0.0.0.0:${PORTS.api}`,
      metrics: `0.0.0.0:${PORTS.metrics}`,
    },
    // The Secret volume's files; the relay re-reads them when the Secret (a renewed certificate) changes.
    ...(spec.tls ? { tls: { cert: `${TLS_PATH}/tls.crt`, key: `${TLS_PATH}/tls.key` } } : {}),
    dataDir: SPOOL_PATH,
    // The URL itself reaches the relay from a Secret (REDIS_URL); only the mode is plain config.
    ...(spec.redis.cluster ? { store: { cluster: true } } : {}),
    mode: spec.mode,
    // A relay stopped without the operator's drain (a rolling update, a node drain) still finishes
    // its queue, and hands the rest to the ready relays, which the headless Service lists.
    shutdown: {
      queueSeconds: spec.drain.timeoutSeconds,
      handoffDns: `${names(pool).relaysService}.${pool.metadata.namespace}.svc`,
      handoffPort: PORTS.api,
    },
    // Accounts that name no route take the pool's SenderRoute (published as namespace/name).
    defaultRoute: `${pool.metadata.namespace}/${spec.senderRoute}`,
    logLevel: spec.debug ? "debug" : (spec.relay?.logLevel ?? "info"),
    ...(spec.trackingBaseUrl ? { trackingBaseUrl: spec.trackingBaseUrl } : {}),
    ...(spec.trackingForwardedFrom?.length
      ? { tracking: { trustForwardedFrom: spec.trackingForwardedFrom } }
      : {}),
    // AUTH only after TLS on every listener, loopback included (docs/relaypool.md, "TLS").
    intake: {
      insecureAuth: false,
      plainAuthOnLoopback: false,
      ...(spec.clientIp.preserve === "proxyProtocol" ? { proxyProtocolFrom: spec.clientIp.proxyFrom } : {}),
    },
  };
  return mergeOwnedOver(settings, owned);
}

export function relayConfigYaml(pool: RelayPool): string {
  return `# Rendered by relayfleet-operator from RelayPool ${pool.metadata.namespace}/${pool.metadata.name}; edits are overwritten.\n${stringify(relayConfig(pool))}`;
}

/** Changes whenever the relays must restart to see new settings (it goes on the pod template). */
export function configHash(pool: RelayPool): string {
  const secrets = [pool.spec.redis, pool.spec.apiTokenSecretRef ?? null, pool.spec.trackingSecretRef ?? null];
  return createHash("sha256")
    .update(relayConfigYaml(pool))
    .update(JSON.stringify(secrets))
    .digest("hex")
    .slice(0, 16);
}

export function configMap(pool: RelayPool): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: ownedMetadata(pool, names(pool).config),
    data: { "relay.yaml": relayConfigYaml(pool) },
  };
}

/** The Secret holding the admin token, when the pool names none (created once, never rewritten). */
export function apiTokenSecret(pool: RelayPool, token: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMetadata(pool, names(pool).apiToken),
    type: "Opaque",
    stringData: { token },
  };
}

export function apiTokenRef(pool: RelayPool): { name: string; key: string } {
  return pool.spec.apiTokenSecretRef ?? { name: names(pool).apiToken, key: "token" };
}

/** The Secret holding the pool's tracking key, when the pool names none (created once, never rewritten). */
export function trackingSecret(pool: RelayPool, secret: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: ownedMetadata(pool, names(pool).trackingSecret),
    type: "Opaque",
    stringData: { secret },
  };
}

export function trackingSecretRef(pool: RelayPool): { name: string; key: string } {
  return pool.spec.trackingSecretRef ?? { name: names(pool).trackingSecret, key: "secret" };
}
