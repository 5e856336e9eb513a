/**
 * The decisions of the minimal kubelet (kubelet.ts), as pure functions: which
 * pods a StatefulSet or Deployment should have, how a pod's container becomes
 * a local relay process (argv, environment, files, the relay config rewritten
 * to the pod's own loopback address and directories) or a node program, which
 * pods fit this node, what a Service's cluster DNS name answers, and the
 * statuses the kubelet reports. No I/O here.
 */
import { parse, stringify } from "yaml";

export type Json = Record<string, unknown>;

export interface Meta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { uid: string; kind: string; name: string }[];
  deletionTimestamp?: string;
  finalizers?: string[];
}

export const meta = (object: Json): Meta => (object.metadata ?? {}) as Meta;
export const specOf = (object: Json): Json => (object.spec ?? {}) as Json;

export const KUBELET_FINALIZER = "relayfleet.test/kubelet";
export const DELETION_COST = "controller.kubernetes.io/pod-deletion-cost";

export type WorkloadKind = "StatefulSet" | "Deployment";

export interface ScalePlan {
  create: string[];
  /** Pod names to delete (gracefully). */
  remove: string[];
}

/**
 * StatefulSet (podManagementPolicy Parallel): pods name-0..n-1, the highest
 * ordinals go first. Deployment: random-suffixed pods, the lowest
 * pod-deletion-cost goes first (then the youngest), as the ReplicaSet
 * controller does. Pods already terminating count for neither side.
 */
export function planScale(
  kind: WorkloadKind,
  owner: Json,
  pods: readonly Json[],
  suffix: () => string,
): ScalePlan {
  const desired = Number(specOf(owner).replicas ?? 1);
  const live = pods.filter((pod) => !meta(pod).deletionTimestamp);
  const terminating = new Set(pods.filter((pod) => meta(pod).deletionTimestamp).map((p) => meta(p).name));
  if (kind === "StatefulSet") {
    const name = meta(owner).name;
    const have = new Set(live.map((pod) => meta(pod).name));
    const create: string[] = [];
    // A terminating pod of the same name must be gone before its ordinal runs again (one spool, one writer).
    for (let i = 0; i < desired; i++)
      if (!have.has(`${name}-${i}`) && !terminating.has(`${name}-${i}`)) create.push(`${name}-${i}`);
    const remove = live
      .filter((pod) => ordinal(meta(pod).name) >= desired)
      .map((pod) => meta(pod).name)
      .sort((a, b) => ordinal(b) - ordinal(a));
    return { create, remove };
  }
  const create: string[] = [];
  for (let i = live.length; i < desired; i++) create.push(`${meta(owner).name}-${suffix()}`);
  const cost = (pod: Json) => Number(meta(pod).annotations?.[DELETION_COST] ?? 0);
  const ranked = [...live].sort(
    (a, b) =>
      cost(a) - cost(b) ||
      String(meta(b).name).localeCompare(String(meta(a).name)) ||
      String((b.metadata as Json).creationTimestamp ?? "").localeCompare(
        String((a.metadata as Json).creationTimestamp ?? ""),
      ),
  );
  const remove = ranked.slice(0, Math.max(live.length - desired, 0)).map((pod) => meta(pod).name);
  return { create, remove };
}

export function ordinal(name: string): number {
  const match = /-(\d+)$/.exec(name);
  return match ? Number(match[1]) : -1;
}

/** The Pod a workload's template describes, owned by the workload and held by the kubelet's finalizer. */
export function podFromTemplate(owner: Json, ownerKind: WorkloadKind, name: string): Json {
  const template = (specOf(owner).template ?? {}) as Json;
  const templateMeta = (template.metadata ?? {}) as Json;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: {
        ...((templateMeta.labels as Record<string, string>) ?? {}),
        ...(ownerKind === "StatefulSet" ? { "statefulset.kubernetes.io/pod-name": name } : {}),
      },
      annotations: (templateMeta.annotations as Record<string, string>) ?? {},
      finalizers: [KUBELET_FINALIZER],
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: ownerKind,
          name: meta(owner).name,
          uid: meta(owner).uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: template.spec ?? {},
  };
}

export interface Container {
  name: string;
  workingDir?: string;
  args?: string[];
  command?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string };
      configMapKeyRef?: { name: string; key: string };
      fieldRef?: { fieldPath: string };
    };
  }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string }[];
}

export function firstContainer(pod: Json): Container | undefined {
  const containers = specOf(pod).containers;
  return Array.isArray(containers) ? (containers[0] as Container) : undefined;
}

export interface Lookups {
  secret(name: string): Json | undefined;
  configMap(name: string): Json | undefined;
}

/** A container's environment with valueFrom resolved (Secret data is base64); a missing source is an error, as for a real kubelet. */
export function resolveEnv(
  pod: Json,
  container: Container,
  podIp: string,
  lookups: Lookups,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    const from = entry.valueFrom;
    if (!from) env[entry.name] = entry.value ?? "";
    else if (from.secretKeyRef) {
      const data = (lookups.secret(from.secretKeyRef.name)?.data ?? {}) as Record<string, string>;
      const value = data[from.secretKeyRef.key];
      if (value === undefined)
        throw new Error(`secret ${from.secretKeyRef.name} has no key ${from.secretKeyRef.key}`);
      env[entry.name] = Buffer.from(value, "base64").toString("utf8");
    } else if (from.configMapKeyRef) {
      const data = (lookups.configMap(from.configMapKeyRef.name)?.data ?? {}) as Record<string, string>;
      const value = data[from.configMapKeyRef.key];
      if (value === undefined)
        throw new Error(`configmap ${from.configMapKeyRef.name} has no key ${from.configMapKeyRef.key}`);
      env[entry.name] = value;
    } else if (from.fieldRef) {
      const path = from.fieldRef.fieldPath;
      const fields: Record<string, string> = {
        "metadata.name": meta(pod).name,
        "metadata.namespace": meta(pod).namespace,
        "status.podIP": podIp,
        "status.hostIP": podIp,
      };
      env[entry.name] = fields[path] ?? "";
    }
  }
  return env;
}

export interface VolumePlan {
  /**
   * mountPath in the container → directory on this machine; `files` (name → bytes) for
   * configMap and secret volumes, which the kubelet projects (and re-projects when the
   * object changes) as a real kubelet's atomic writer does.
   */
  mounts: { mountPath: string; hostPath: string; files?: Record<string, Buffer> }[];
}

interface PodVolume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
  secret?: { secretName: string; items?: { key: string; path: string }[]; optional?: boolean };
}

/** The keys a volume shows (all, or its `items`), as files; a missing key named in items is an error. */
function projectKeys(
  kind: string,
  name: string,
  data: Record<string, Buffer>,
  items: { key: string; path: string }[] | undefined,
): Record<string, Buffer> {
  if (!items) return data;
  const files: Record<string, Buffer> = {};
  for (const item of items) {
    const value = data[item.key];
    if (value === undefined) throw new Error(`${kind} ${name} has no key ${item.key}`);
    files[item.path] = value;
  }
  return files;
}

/**
 * Where each volume lives locally: configMap and secret volumes are written out under
 * the pod's directory; a StatefulSet's claim (volumeClaimTemplates) is a
 * directory named like its PVC (`spool-pool-0`) that outlives the pod, as a
 * retained claim does; emptyDir is under the pod's directory and goes with it.
 */
export function planVolumes(
  pod: Json,
  container: Container,
  dirs: { pod: string; claims: string },
  lookups: Lookups,
): VolumePlan {
  const volumes = (specOf(pod).volumes ?? []) as PodVolume[];
  const mounts: VolumePlan["mounts"] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.find((v) => v.name === mount.name);
    const hostPath = `${dirs.pod}/volumes/${mount.name}`;
    if (volume?.configMap) {
      const source = volume.configMap;
      const data = lookups.configMap(source.name)?.data as Record<string, string> | undefined;
      if (!data && !source.optional) throw new Error(`configmap ${source.name} not found`);
      const bytes = Object.fromEntries(
        Object.entries(data ?? {}).map(([key, text]) => [key, Buffer.from(text, "utf8")]),
      );
      mounts.push({
        mountPath: mount.mountPath,
        hostPath,
        files: projectKeys("configmap", source.name, bytes, source.items),
      });
    } else if (volume?.secret) {
      const source = volume.secret;
      const data = lookups.secret(source.secretName)?.data as Record<string, string> | undefined;
      if (!data && !source.optional) throw new Error(`secret ${source.secretName} not found`);
      const bytes = Object.fromEntries(
        Object.entries(data ?? {}).map(([key, base64]) => [key, Buffer.from(base64, "base64")]),
      );
      mounts.push({
        mountPath: mount.mountPath,
        hostPath,
        files: projectKeys("secret", source.secretName, bytes, source.items),
      });
    } else if (volume) {
      mounts.push({ mountPath: mount.mountPath, hostPath });
    } else {
      // Not in spec.volumes: a volumeClaimTemplate of the StatefulSet.
      mounts.push({ mountPath: mount.mountPath, hostPath: `${dirs.claims}/${mount.name}-${meta(pod).name}` });
    }
  }
  return { mounts };
}

/** A container path seen through the mounts ("/etc/relayfleet/relay.yaml" → the local file). */
export function hostPathFor(path: string, plan: VolumePlan): string {
  for (const mount of plan.mounts)
    if (path === mount.mountPath || path.startsWith(`${mount.mountPath}/`))
      return mount.hostPath + path.slice(mount.mountPath.length);
  return path;
}

/**
 * The relay config as this pod sees it: every listener moves from its
 * wildcard (0.0.0.0, [::]) to the pod's own loopback address with the same
 * port, and container paths (dataDir, tls files) point at the local mounts.
 */
export function rewriteRelayConfig(text: string, podIp: string, plan: VolumePlan): string {
  const config = (parse(text) ?? {}) as Json;
  const moveHost = (address: unknown) => {
    if (typeof address !== "string") return address;
    const port = /:(\d+)$/.exec(address)?.[1];
    return port ? `${podIp}:${port}` : address;
  };
  const listen = (config.listen ?? {}) as Json;
  for (const [key, value] of Object.entries(listen))
    listen[key] = Array.isArray(value) ? value.map(moveHost) : moveHost(value);
  config.listen = listen;
  const mapPaths = (value: unknown): unknown => {
    if (typeof value === "string" && value.startsWith("/")) return hostPathFor(value, plan);
    if (Array.isArray(value)) return value.map(mapPaths);
    if (value && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapPaths(v)]));
    return value;
  };
  return stringify(mapPaths(config));
}

export interface ProcessStatus {
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  podIp?: string;
  ready: boolean;
  restarts: number;
  startedAt?: string;
  message?: string;
  /** The container's name; relay pods report "relay". */
  container?: string;
  /** Set when the container ran to completion and stays down (phase Succeeded or Failed). */
  terminated?: { exitCode: number; finishedAt: string };
}

/** The relayfleet image's node and application directory (Containerfile: WORKDIR /app, ENTRYPOINT). */
export const IMAGE_NODE = "/usr/local/bin/node";
export const IMAGE_APP_DIR = "/app";

/**
 * A container whose command is the image's node (the chart's `helm test` Pod) runs as
 * that node program; every other container runs as the relay.
 */
export function runsAsNodeProgram(container: Container): boolean {
  return container.command?.[0] === IMAGE_NODE;
}

/**
 * The node program on this machine: the container's arguments after the node, paths
 * seen through the mounts, and the working directory with the image's /app being the
 * repository (its node_modules are the image's).
 */
export function nodeProgram(
  container: Container,
  plan: VolumePlan,
  repoRoot: string,
): { args: string[]; cwd: string } {
  const toHost = (path: string) =>
    path === IMAGE_APP_DIR || path.startsWith(`${IMAGE_APP_DIR}/`)
      ? repoRoot + path.slice(IMAGE_APP_DIR.length)
      : hostPathFor(path, plan);
  const args = [...(container.command ?? []).slice(1), ...(container.args ?? [])].map(toHost);
  return { args, cwd: container.workingDir ? toHost(container.workingDir) : repoRoot };
}

/** What follows a container's exit under the pod's restartPolicy (default Always), as the kubelet decides it. */
export function afterExit(restartPolicy: unknown, exitCode: number): "restart" | "Succeeded" | "Failed" {
  if (restartPolicy === "Never") return exitCode === 0 ? "Succeeded" : "Failed";
  if (restartPolicy === "OnFailure") return exitCode === 0 ? "Succeeded" : "restart";
  return "restart";
}

/** This node's labels, as a node carries them. */
export const NODE_LABELS: Record<string, string> = {
  "kubernetes.io/hostname": "relayfleet-test-node",
  "kubernetes.io/os": "linux",
};

/** Whether a pod's nodeSelector fits this node (the scheduler's first filter; affinity is not looked at). */
export function fitsNode(pod: Json, nodeLabels: Record<string, string>): boolean {
  const selector = (specOf(pod).nodeSelector ?? {}) as Record<string, string>;
  return Object.entries(selector).every(([key, value]) => nodeLabels[key] === value);
}

/** A pod no node fits, as the scheduler leaves it. */
export function unschedulableStatus(): Json {
  return {
    phase: "Pending",
    conditions: [
      {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
      },
    ],
  };
}

const isReadyPod = (pod: Json) =>
  ((pod.status as Json | undefined)?.conditions as { type: string; status: string }[] | undefined)?.some(
    (c) => c.type === "Ready" && c.status === "True",
  ) ?? false;

/**
 * What cluster DNS answers for each Service: `NAME.NAMESPACE.svc` (and the same under
 * `.cluster.local`) → the addresses of the ready pods its selector picks (all running ones
 * with publishNotReadyAddresses). That is a headless Service's answer; there is no
 * kube-proxy here to give a ClusterIP, so a client reaches a pod's port under the
 * Service's port number, which is right for Services whose port is their target port.
 */
export function serviceRecords(services: readonly Json[], pods: readonly Json[]): Record<string, string[]> {
  const records: Record<string, string[]> = {};
  for (const service of services) {
    const spec = specOf(service) as { selector?: Record<string, string>; publishNotReadyAddresses?: boolean };
    if (!spec.selector) continue;
    const { name, namespace } = meta(service);
    const addresses = pods
      .filter((pod) => {
        const m = meta(pod);
        const status = (pod.status ?? {}) as { phase?: string; podIP?: string };
        return (
          m.namespace === namespace &&
          !m.deletionTimestamp &&
          status.phase === "Running" &&
          status.podIP &&
          Object.entries(spec.selector ?? {}).every(([key, value]) => m.labels?.[key] === value) &&
          (spec.publishNotReadyAddresses || isReadyPod(pod))
        );
      })
      .map((pod) => (pod.status as { podIP: string }).podIP)
      .sort();
    records[`${name}.${namespace}.svc`] = addresses;
    records[`${name}.${namespace}.svc.cluster.local`] = addresses;
  }
  return records;
}

export function podStatus(status: ProcessStatus): Json {
  const ready = status.ready ? "True" : "False";
  const done = status.terminated;
  // A completed pod's containers are not ready, for the reason the kubelet gives.
  const notReadyReason = done ? { reason: "PodCompleted" } : {};
  return {
    phase: status.phase,
    ...(status.podIp
      ? {
          podIP: status.podIp,
          podIPs: [{ ip: status.podIp }],
          hostIP: status.podIp,
          hostIPs: [{ ip: status.podIp }],
        }
      : {}),
    ...(status.startedAt ? { startTime: status.startedAt } : {}),
    ...(status.message ? { message: status.message } : {}),
    conditions: [
      { type: "PodScheduled", status: "True" },
      { type: "Initialized", status: "True" },
      { type: "ContainersReady", status: ready, ...notReadyReason },
      { type: "Ready", status: ready, ...notReadyReason },
    ],
    containerStatuses: [
      {
        name: status.container ?? "relay",
        ready: status.ready,
        restartCount: status.restarts,
        started: status.phase === "Running",
        image: "relayfleet:local",
        imageID: "",
        state: done
          ? {
              terminated: {
                exitCode: done.exitCode,
                reason: done.exitCode === 0 ? "Completed" : "Error",
                startedAt: status.startedAt,
                finishedAt: done.finishedAt,
              },
            }
          : status.phase === "Running"
            ? { running: { startedAt: status.startedAt } }
            : { waiting: { reason: status.message ? "CrashLoopBackOff" : "ContainerCreating" } },
      },
    ],
  };
}

/** A workload's status from its pods' readiness. */
export function workloadStatus(owner: Json, pods: readonly Json[]): Json {
  const live = pods.filter((pod) => !meta(pod).deletionTimestamp);
  const ready = live.filter((pod) =>
    ((pod.status as Json | undefined)?.conditions as { type: string; status: string }[] | undefined)?.some(
      (c) => c.type === "Ready" && c.status === "True",
    ),
  ).length;
  return {
    ...((owner.status as Json) ?? {}),
    observedGeneration: meta(owner).generation ?? 1,
    replicas: live.length,
    readyReplicas: ready,
    availableReplicas: ready,
    updatedReplicas: live.length,
    currentReplicas: live.length,
  };
}
