/**
 * The relay workload. StatefulSet (the default): each relay keeps its spool
 * on its own PersistentVolumeClaim, retained on scale-down and on deletion,
 * so mail left by a drain that hit its deadline is still on disk and is
 * delivered when that ordinal runs again. Deployment: the spool is an
 * emptyDir; the operator drains a relay before it lowers replicas and marks
 * it with the lowest pod-deletion-cost so that exactly that pod goes, and
 * SIGTERM (terminationGracePeriodSeconds covers the drain timeout) makes a
 * relay deliver its queue for up to that timeout and hand what is left to
 * the ready relays (config `shutdown`, relay/spool/handoff.ts) before it
 * exits. Pure.
 */
import type { RelayPool } from "../api/relaypool.js";
import type { KubeObject } from "../kube/client.js";
import { apiTokenRef, configHash, trackingSecretRef } from "./config.js";
import {
  CONFIG_HASH_ANNOTATION,
  CONFIG_PATH,
  names,
  ownedMetadata,
  PORTS,
  SPOOL_PATH,
  selectorLabels,
  TLS_PATH,
} from "./labels.js";

/** The image's user (Containerfile `USER 10001:10001`), stated so runAsNonRoot can be checked. */
export const RELAY_UID = 10001;
const HOSTNAME_TOPOLOGY = "kubernetes.io/hostname";
/** Ports below this need privilege to bind (the kernel's net.ipv4.ip_unprivileged_port_start). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/**
 * Pod Security "restricted": a non-root user, no privilege escalation, the runtime's seccomp
 * profile, every capability dropped but NET_BIND_SERVICE (the one restricted allows adding), and a
 * read-only root file system (writes go to the spool and to an emptyDir /tmp).
 */
export const CONTAINER_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  runAsUser: RELAY_UID,
  runAsGroup: RELAY_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
  seccompProfile: { type: "RuntimeDefault" },
} as const;

/**
 * The pod's half: the same user and seccomp profile, fsGroup so the spool claim and the TLS Secret
 * are the relay's to read and write. A non-root process gets no capability from the container's
 * set (Kubernetes sets no ambient capabilities), so port 25 is opened to it the way restricted
 * allows: the namespaced, "safe" sysctl that moves the privileged range below the lowest port.
 */
function podSecurityContext(ports: readonly number[]): Record<string, unknown> {
  const lowest = Math.min(...ports);
  return {
    runAsNonRoot: true,
    runAsUser: RELAY_UID,
    runAsGroup: RELAY_UID,
    fsGroup: RELAY_UID,
    seccompProfile: { type: "RuntimeDefault" },
    ...(lowest < FIRST_UNPRIVILEGED_PORT
      ? { sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: String(lowest) }] }
      : {}),
  };
}

/** Relays on different nodes when there are nodes enough: soft, so a small cluster still runs them all. */
function spreadOverNodes(pool: RelayPool): Record<string, unknown> {
  const { spec } = pool;
  const labelSelector = { matchLabels: selectorLabels(pool) };
  return {
    topologySpreadConstraints: spec.topologySpreadConstraints ?? [
      { maxSkew: 1, topologyKey: HOSTNAME_TOPOLOGY, whenUnsatisfiable: "ScheduleAnyway", labelSelector },
    ],
    affinity: spec.affinity ?? {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 100, podAffinityTerm: { topologyKey: HOSTNAME_TOPOLOGY, labelSelector } },
        ],
      },
    },
  };
}

function redisEnv(pool: RelayPool): Record<string, unknown> {
  const { redis } = pool.spec;
  return redis.secretRef
    ? {
        name: "REDIS_URL",
        valueFrom: { secretKeyRef: { name: redis.secretRef.name, key: redis.secretRef.key } },
      }
    : { name: "REDIS_URL", value: redis.url };
}

function container(pool: RelayPool): Record<string, unknown> {
  const { spec } = pool;
  const token = apiTokenRef(pool);
  const tracking = trackingSecretRef(pool);
  return {
    name: "relay",
    image: spec.image,
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    args: ["relay", "--config", `${CONFIG_PATH}/relay.yaml`],
    ports: [
      ...spec.smtpPorts.map((port) => ({
        name: `smtp-${port}`,
        containerPort: port,
        protocol: "TCP",
        // DNS publishes node addresses: the relay must answer on the node's port.
        ...(spec.endpointAddress === "hostIP" ? { hostPort: port } : {}),
      })),
      { name: "tracking", containerPort: PORTS.tracking, protocol: "TCP" },
      { name: "api", containerPort: PORTS.api, protocol: "TCP" },
      { name: "metrics", containerPort: PORTS.metrics, protocol: "TCP" },
    ],
    env: [
      redisEnv(pool),
      { name: "RELAYFLEET_API_TOKEN", valueFrom: { secretKeyRef: { name: token.name, key: token.key } } },
      // One key for the whole pool: a link written by one relay is followed on any other.
      {
        name: "RELAYFLEET_TRACKING_SECRET",
        valueFrom: { secretKeyRef: { name: tracking.name, key: tracking.key } },
      },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ],
    readinessProbe: { httpGet: { path: "/readyz", port: "api" }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: "/healthz", port: "api" }, periodSeconds: 10, failureThreshold: 6 },
    volumeMounts: [
      { name: "config", mountPath: CONFIG_PATH, readOnly: true },
      { name: "spool", mountPath: SPOOL_PATH },
      { name: "tmp", mountPath: "/tmp" },
      ...(spec.tls ? [{ name: "tls", mountPath: TLS_PATH, readOnly: true }] : []),
    ],
    securityContext: CONTAINER_SECURITY_CONTEXT,
    ...(spec.resources ? { resources: spec.resources } : {}),
  };
}

function podTemplate(
  pool: RelayPool,
  spoolVolume: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const { spec } = pool;
  return {
    metadata: {
      labels: { ...ownedMetadata(pool, "").labels },
      annotations: { ...(spec.podAnnotations ?? {}), [CONFIG_HASH_ANNOTATION]: configHash(pool) },
    },
    spec: {
      // A relay that receives SIGTERM stops taking mail and finishes its queue first.
      terminationGracePeriodSeconds: spec.drain.timeoutSeconds + 30,
      securityContext: podSecurityContext(spec.smtpPorts),
      ...spreadOverNodes(pool),
      containers: [container(pool)],
      volumes: [
        { name: "config", configMap: { name: names(pool).config } },
        { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
        // Owner and group read only (fsGroup makes the group the relay's).
        ...(spec.tls
          ? [{ name: "tls", secret: { secretName: spec.tls.secretName, defaultMode: 0o440 } }]
          : []),
        ...(spoolVolume ? [spoolVolume] : []),
      ],
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
    },
  };
}

export function statefulSet(pool: RelayPool, replicas: number): KubeObject {
  const { spec } = pool;
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: ownedMetadata(pool, names(pool).workload),
    spec: {
      replicas,
      serviceName: names(pool).relaysService,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: selectorLabels(pool) },
      updateStrategy: { type: "RollingUpdate" },
      persistentVolumeClaimRetentionPolicy: { whenScaled: "Retain", whenDeleted: "Retain" },
      template: podTemplate(pool, undefined),
      volumeClaimTemplates: [
        {
          metadata: { name: "spool" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: spec.spool.size } },
            ...(spec.spool.storageClassName ? { storageClassName: spec.spool.storageClassName } : {}),
          },
        },
      ],
    },
  };
}

export function deployment(pool: RelayPool, replicas: number): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: ownedMetadata(pool, names(pool).workload),
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(pool) },
      // Never fewer relays than asked for during a roll-out.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: podTemplate(pool, { name: "spool", emptyDir: { sizeLimit: pool.spec.spool.size } }),
    },
  };
}

export function workload(pool: RelayPool, replicas: number): KubeObject {
  return pool.spec.workload === "Deployment" ? deployment(pool, replicas) : statefulSet(pool, replicas);
}
