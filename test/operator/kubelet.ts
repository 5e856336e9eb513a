/**
 * A test-only stand-in for the workload controllers and the kubelet, plugged
 * into the test API server through its `controllers` seam: StatefulSets get
 * pods name-0..n-1 (highest ordinals removed first), Deployments get pods
 * with random suffixes (the lowest pod-deletion-cost removed first, as the
 * ReplicaSet controller does), every pod is Running with a pod IP and a host
 * IP at once, and is Ready unless the test says otherwise. Workload status
 * (replicas, readyReplicas) follows.
 */
import { randomBytes } from "node:crypto";
import type { ControllerFactory, InProcessApi } from "../kube/index.js";

type Json = Record<string, unknown>;

export interface FakeKubelet {
  factory: ControllerFactory;
  /** Marks a pod ready or not (by name); applies at once and to pods created later. */
  setReady(podName: string, ready: boolean): void;
  /** Pod name → pod IP, for pods that exist now. */
  podIps(): Map<string, string>;
}

const meta = (object: Json) =>
  (object.metadata ?? {}) as Json & {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };

export function fakeKubelet(): FakeKubelet {
  const notReady = new Set<string>();
  let api: InProcessApi | undefined;
  let nextIp = 10;
  const ips = new Map<string, string>();
  let scheduled: NodeJS.Immediate | undefined;

  const type = (apiVersion: string, kind: string) => {
    const found = api?.types.findByKind(apiVersion, kind);
    if (!found) throw new Error(`no ${kind}`);
    return found;
  };

  function podStatus(name: string): Json {
    let ip = ips.get(name);
    if (!ip) {
      ip = `10.0.0.${nextIp++}`;
      ips.set(name, ip);
    }
    const ready = !notReady.has(name);
    return {
      phase: "Running",
      podIP: ip,
      hostIP: ip.replace(/^10\.0\.0\./, "192.0.2."),
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
    };
  }

  function createPod(owner: Json, ownerKind: string, name: string): void {
    if (!api) return;
    const template = ((owner.spec as Json).template ?? {}) as Json;
    const tmeta = (template.metadata ?? {}) as Json;
    const created = api.objects.create(type("v1", "Pod"), meta(owner).namespace, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        labels: tmeta.labels ?? {},
        annotations: tmeta.annotations ?? {},
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: ownerKind,
            name: meta(owner).name,
            uid: meta(owner).uid,
            controller: true,
          },
        ],
      },
      spec: template.spec ?? {},
    } as never);
    api.objects.putInternal(type("v1", "Pod"), { ...created, status: podStatus(name) } as never);
  }

  function ownedPods(owner: Json): Json[] {
    if (!api) return [];
    return (api.objects.list(type("v1", "Pod"), meta(owner).namespace) as Json[]).filter((pod) =>
      ((meta(pod).ownerReferences as { uid: string }[] | undefined) ?? []).some(
        (r) => r.uid === meta(owner).uid,
      ),
    );
  }

  function deletePod(pod: Json): void {
    api?.objects.delete(type("v1", "Pod"), meta(pod).namespace, meta(pod).name);
    ips.delete(meta(pod).name);
  }

  function syncWorkload(owner: Json, kind: "StatefulSet" | "Deployment"): void {
    if (!api || meta(owner).deletionTimestamp) return;
    const desired = Number((owner.spec as Json).replicas ?? 1);
    let pods = ownedPods(owner);
    if (kind === "StatefulSet") {
      for (let i = 0; i < desired; i++) {
        const name = `${meta(owner).name}-${i}`;
        if (!pods.some((pod) => meta(pod).name === name)) createPod(owner, kind, name);
      }
      for (const pod of pods) if (Number(/-(\d+)$/.exec(meta(pod).name)?.[1]) >= desired) deletePod(pod);
    } else {
      for (let i = pods.length; i < desired; i++)
        createPod(owner, kind, `${meta(owner).name}-${randomBytes(3).toString("hex")}`);
      const cost = (pod: Json) =>
        Number(meta(pod).annotations?.["controller.kubernetes.io/pod-deletion-cost"] ?? 0);
      const ranked = [...pods].sort((a, b) => cost(a) - cost(b));
      for (const pod of ranked.slice(0, Math.max(pods.length - desired, 0))) deletePod(pod);
    }
    pods = ownedPods(owner);
    for (const pod of pods) {
      const status = podStatus(meta(pod).name);
      if (JSON.stringify(pod.status) !== JSON.stringify(status))
        api.objects.putInternal(type("v1", "Pod"), { ...pod, status } as never);
    }
    const ready = pods.filter((pod) => !notReady.has(meta(pod).name)).length;
    const status = {
      replicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: meta(owner).generation,
    };
    const current = (owner.status ?? {}) as Json;
    if (current.replicas !== status.replicas || current.readyReplicas !== status.readyReplicas)
      api.objects.putInternal(type("apps/v1", kind), {
        ...owner,
        status: { ...current, ...status },
      } as never);
  }

  function sync(): void {
    scheduled = undefined;
    if (!api) return;
    for (const kind of ["StatefulSet", "Deployment"] as const)
      for (const owner of api.objects.list(type("apps/v1", kind), undefined) as Json[])
        syncWorkload(owner, kind);
  }

  const schedule = () => {
    scheduled ??= setImmediate(sync);
  };

  return {
    factory: (inProcess) => {
      api = inProcess;
      const unsubscribe = inProcess.storage.subscribe((event) => {
        if (["apps/statefulsets", "apps/deployments", "/pods"].includes(event.resource)) schedule();
      });
      return {
        stop() {
          unsubscribe();
          if (scheduled) clearImmediate(scheduled);
          api = undefined;
        },
      };
    },
    setReady(podName, ready) {
      if (ready) notReady.delete(podName);
      else notReady.add(podName);
      schedule();
    },
    podIps: () => new Map(ips),
  };
}
