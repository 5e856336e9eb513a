/**
 * A minimal kubelet (with the StatefulSet and Deployment controllers) for the
 * test API server, plugged in through its `controllers` seam. Each relay pod
 * is a real `relayfleet relay` process on this machine with its own loopback
 * address (127.0.1.N, reported as podIP and hostIP) and the pod's own ports;
 * its config comes from the pod's ConfigMap volume, its environment from the
 * pod's env (Secrets, fieldRefs). Readiness is the container's readinessProbe
 * (/readyz). A deleted pod gets SIGTERM, then SIGKILL after its grace period,
 * and only then leaves the API (a finalizer holds it meanwhile), as a pod
 * shows Terminating on a real node. A process that dies is restarted, unless
 * the pod's restartPolicy says otherwise (Never; OnFailure after exit 0): then
 * the pod is Succeeded or Failed with the container's terminated state.
 * Test infrastructure: it runs any container as the relay, except one whose
 * command is the image's node (the chart's `helm test` Pod), which runs as
 * that node program with the repository as the image's /app. Such programs
 * resolve Service names through cluster-dns.mjs (NODE_OPTIONS=--import) from
 * the Services' ready endpoints, which the kubelet writes to a file as they
 * change: what cluster DNS answers, and no change to the program or chart. A
 * pod whose nodeSelector this node does not match stays Pending, unscheduled.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { projectVolume } from "../support/projected-volume.js";
import type { ControllerFactory, InProcessApi } from "./controllers.js";
import {
  afterExit,
  firstContainer,
  fitsNode,
  hostPathFor,
  type Json,
  KUBELET_FINALIZER,
  meta,
  NODE_LABELS,
  nodeProgram,
  type ProcessStatus,
  planScale,
  planVolumes,
  podFromTemplate,
  podStatus,
  resolveEnv,
  rewriteRelayConfig,
  runsAsNodeProgram,
  serviceRecords,
  specOf,
  unschedulableStatus,
  type VolumePlan,
  type WorkloadKind,
  workloadStatus,
} from "./kubelet-pods.js";

const REPO_ROOT = resolve(import.meta.dirname, "../..");
const CLUSTER_DNS_HOOK = pathToFileURL(join(import.meta.dirname, "cluster-dns.mjs")).href;

export interface KubeletOptions {
  /** Pod directories, logs and retained claims go here. */
  workDir: string;
  /** First three octets of the pod addresses; default "127.0.1". */
  addressPrefix?: string;
  /** Cap on a pod's grace period (terminationGracePeriodSeconds), so tests stay short. */
  maxGraceMs?: number;
  readinessIntervalMs?: number;
  /** Extra environment for every relay (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
  /** This node's labels, which pods' nodeSelectors must match; default NODE_LABELS. */
  nodeLabels?: Record<string, string>;
  onEvent?: (event: { pod: string; what: string }) => void;
}

export interface RunningPod {
  key: string;
  name: string;
  uid: string;
  ip: string;
  status: ProcessStatus;
  child?: ChildProcess;
  logFile: string;
  stopping?: Promise<void>;
}

export interface Kubelet {
  factory: ControllerFactory;
  /** Pods this kubelet runs now, by namespace/name. */
  pods(): RunningPod[];
  /** Resolves when every relay process has exited (after the API server stopped). */
  stopped(): Promise<void>;
}

/** The files of a configMap or secret volume as the container sees them (relay configs rewritten to the pod). */
function volumeFiles(
  mount: VolumePlan["mounts"][number],
  podIp: string,
  plan: VolumePlan,
): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const [file, bytes] of Object.entries(mount.files ?? {}))
    files.set(
      file,
      file.endsWith(".yaml") ? Buffer.from(rewriteRelayConfig(bytes.toString("utf8"), podIp, plan)) : bytes,
    );
  return files;
}

function projectVolumes(plan: VolumePlan, podIp: string): boolean {
  let changed = false;
  for (const mount of plan.mounts) {
    if (!mount.files) mkdirSync(mount.hostPath, { recursive: true });
    else changed = projectVolume(mount.hostPath, volumeFiles(mount, podIp, plan)) || changed;
  }
  return changed;
}

export function relayKubelet(options: KubeletOptions): Kubelet {
  const prefix = options.addressPrefix ?? "127.0.1";
  const running = new Map<string, RunningPod>();
  const used = new Set<number>();
  let api: InProcessApi | undefined;
  let scheduled: NodeJS.Immediate | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  let stopAll: Promise<void> | undefined;
  const emit = (pod: string, what: string) => options.onEvent?.({ pod, what });
  const dnsFile = join(options.workDir, "cluster-dns.json");

  const type = (apiVersion: string, kind: string) => {
    const found = api?.types.findByKind(apiVersion, kind);
    if (!found) throw new Error(`no ${kind} served`);
    return found;
  };
  const find = (kind: string, namespace: string, name: string): Json | undefined =>
    api?.objects.find(type("v1", kind), namespace, name) as Json | undefined;
  const podsOf = (owner: Json): Json[] =>
    ((api?.objects.list(type("v1", "Pod"), meta(owner).namespace) ?? []) as Json[]).filter((pod) =>
      (meta(pod).ownerReferences ?? []).some((ref) => ref.uid === meta(owner).uid),
    );

  function allocateIp(): string {
    for (let n = 1; n < 255; n++)
      if (!used.has(n)) {
        used.add(n);
        return `${prefix}.${n}`;
      }
    throw new Error("no free pod address");
  }

  function writeStatus(pod: RunningPod): void {
    if (!api) return;
    const [namespace, name] = pod.key.split("/") as [string, string];
    const current = find("Pod", namespace, name);
    if (!current) return;
    const status = podStatus(pod.status);
    if (JSON.stringify(current.status) === JSON.stringify(status)) return;
    api.objects.putInternal(type("v1", "Pod"), { ...current, status } as never);
  }

  function start(pod: Json, entry: RunningPod): void {
    const container = firstContainer(pod);
    try {
      if (!container) throw new Error("pod has no container");
      const lookups = {
        secret: (n: string) => find("Secret", meta(pod).namespace, n),
        configMap: (n: string) => find("ConfigMap", meta(pod).namespace, n),
      };
      const podDir = join(options.workDir, "pods", meta(pod).namespace, meta(pod).name);
      const plan = planVolumes(
        pod,
        container,
        { pod: podDir, claims: join(options.workDir, "claims") },
        lookups,
      );
      projectVolumes(plan, entry.ip);
      const env = resolveEnv(pod, container, entry.ip, lookups);
      const base = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" };
      mkdirSync(dirname(entry.logFile), { recursive: true });
      const log = createWriteStream(entry.logFile, { flags: "a" });
      let child: ChildProcess;
      if (runsAsNodeProgram(container)) {
        const program = nodeProgram(container, plan, REPO_ROOT);
        writeClusterDns();
        child = spawn(process.execPath, program.args, {
          cwd: program.cwd,
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...base,
            ...env,
            NODE_OPTIONS: `--import ${CLUSTER_DNS_HOOK}`,
            RELAYFLEET_TEST_CLUSTER_DNS: dnsFile,
          },
        });
      } else {
        const args = [...(container.command ?? []).slice(1), ...(container.args ?? [])].map((arg) =>
          hostPathFor(arg, plan),
        );
        child = spawn(process.execPath, ["--import", "tsx", "bin/relayfleet.ts", ...args], {
          cwd: REPO_ROOT,
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...base, ...options.env, ...env },
        });
      }
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      entry.child = child;
      entry.status = {
        phase: "Running",
        podIp: entry.ip,
        ready: false,
        restarts: entry.status.restarts,
        startedAt: new Date().toISOString(),
        ...(runsAsNodeProgram(container) ? { container: container.name } : {}),
      };
      emit(entry.key, `started pid ${child.pid} on ${entry.ip}`);
      child.once("exit", (code, signal) => {
        log.end();
        entry.child = undefined;
        if (entry.stopping || stopAll) return;
        // A signal's exit code is 128 + its number, as a container runtime reports it.
        const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
        const next = afterExit(specOf(pod).restartPolicy, exitCode);
        if (next !== "restart") {
          emit(entry.key, `exited (${signal ?? code}); ${next}`);
          entry.status = {
            ...entry.status,
            phase: next,
            ready: false,
            terminated: { exitCode, finishedAt: new Date().toISOString() },
          };
          writeStatus(entry);
          return;
        }
        emit(entry.key, `exited (${signal ?? code}); restarting`);
        entry.status = { ...entry.status, ready: false, restarts: entry.status.restarts + 1 };
        writeStatus(entry);
        // Back off a little, as the kubelet's CrashLoopBackOff does, then run it again.
        setTimeout(() => {
          const again = find("Pod", meta(pod).namespace, meta(pod).name);
          if (again && !meta(again).deletionTimestamp && !entry.stopping && !stopAll) start(again, entry);
        }, 1_000);
      });
    } catch (error) {
      entry.status = {
        phase: "Pending",
        podIp: entry.ip,
        ready: false,
        restarts: entry.status.restarts,
        message: error instanceof Error ? error.message : String(error),
      };
      emit(entry.key, `cannot start: ${entry.status.message}`);
      // A Secret or ConfigMap made a moment later: try again on the next change.
      running.delete(entry.key);
      used.delete(Number(entry.ip.split(".").pop()));
    }
    writeStatus(entry);
  }

  /**
   * A running pod's configMap and secret volumes follow their objects, as a real kubelet's
   * periodic sync makes them (there within a minute or so; here at the next change). A
   * source that went away keeps the files it had.
   */
  function refreshVolumes(pod: Json, entry: RunningPod): void {
    const container = firstContainer(pod);
    if (!container) return;
    try {
      const plan = planVolumes(
        pod,
        container,
        {
          pod: join(options.workDir, "pods", meta(pod).namespace, meta(pod).name),
          claims: join(options.workDir, "claims"),
        },
        {
          secret: (n: string) => find("Secret", meta(pod).namespace, n),
          configMap: (n: string) => find("ConfigMap", meta(pod).namespace, n),
        },
      );
      if (projectVolumes(plan, entry.ip)) emit(entry.key, "volumes updated");
    } catch {
      // As the kubelet does, keep what is mounted when a source cannot be read.
    }
  }

  function terminate(entry: RunningPod, graceMs: number): Promise<void> {
    entry.stopping ??= (async () => {
      const child = entry.child;
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((done) => child.once("exit", () => done()));
        child.kill("SIGTERM");
        emit(entry.key, "SIGTERM");
        const killer = setTimeout(() => {
          emit(entry.key, "SIGKILL after grace period");
          child.kill("SIGKILL");
        }, graceMs);
        await exited;
        clearTimeout(killer);
      }
      running.delete(entry.key);
      used.delete(Number(entry.ip.split(".").pop()));
    })();
    return entry.stopping;
  }

  function syncPod(pod: Json): void {
    const key = `${meta(pod).namespace}/${meta(pod).name}`;
    let entry = running.get(key);
    if (meta(pod).deletionTimestamp) {
      const grace = Number(specOf(pod).terminationGracePeriodSeconds ?? 30) * 1000;
      const done = () => {
        if (!api) return;
        const current = find("Pod", meta(pod).namespace, meta(pod).name);
        if (current) api.objects.removeFinalizer(type("v1", "Pod"), current as never, KUBELET_FINALIZER);
        emit(key, "removed");
      };
      if (!entry) done();
      else if (!entry.stopping)
        void terminate(entry, Math.min(grace, options.maxGraceMs ?? grace)).then(done);
      return;
    }
    if (entry && entry.uid !== meta(pod).uid) {
      // The pod this process ran for is gone and a new one has its name (a helm test run
      // again): stop the old process, then start the new pod.
      if (!entry.stopping) void terminate(entry, options.maxGraceMs ?? 30_000).then(schedule);
      return;
    }
    if (entry) {
      if (entry.child && !entry.stopping) refreshVolumes(pod, entry);
      return;
    }
    if (!fitsNode(pod, options.nodeLabels ?? NODE_LABELS)) {
      const status = unschedulableStatus();
      if (api && JSON.stringify(pod.status) !== JSON.stringify(status))
        api.objects.putInternal(type("v1", "Pod"), { ...pod, status } as never);
      return;
    }
    const ip = allocateIp();
    entry = {
      key,
      name: meta(pod).name,
      uid: meta(pod).uid,
      ip,
      status: { phase: "Pending", ready: false, restarts: 0 },
      logFile: join(options.workDir, "logs", `${meta(pod).namespace}_${meta(pod).name}.log`),
    };
    running.set(key, entry);
    start(pod, entry);
  }

  function syncWorkload(owner: Json, kind: WorkloadKind): void {
    if (!api || meta(owner).deletionTimestamp) return;
    const plan = planScale(kind, owner, podsOf(owner), () => randomBytes(3).toString("hex").slice(0, 5));
    for (const name of plan.create)
      api.objects.create(
        type("v1", "Pod"),
        meta(owner).namespace,
        podFromTemplate(owner, kind, name) as never,
      );
    for (const name of plan.remove) api.objects.delete(type("v1", "Pod"), meta(owner).namespace, name);
    const status = workloadStatus(owner, podsOf(owner));
    if (JSON.stringify(status) !== JSON.stringify(owner.status))
      api.objects.putInternal(type("apps/v1", kind), { ...owner, status } as never);
  }

  function sync(): void {
    scheduled = undefined;
    if (!api || stopAll) return;
    for (const kind of ["StatefulSet", "Deployment"] as const)
      for (const owner of api.objects.list(type("apps/v1", kind), undefined) as Json[])
        syncWorkload(owner, kind);
    const pods = api.objects.list(type("v1", "Pod"), undefined) as Json[];
    for (const pod of pods) syncPod(pod);
    // A pod that left the API without this kubelet's finalizer (one it did not create,
    // such as a helm test Pod): its process goes too, and its address is free again.
    const present = new Set(pods.map((pod) => `${meta(pod).namespace}/${meta(pod).name}`));
    for (const entry of running.values())
      if (!present.has(entry.key) && !entry.stopping) void terminate(entry, options.maxGraceMs ?? 30_000);
    if ([...running.values()].some((entry) => entry.child && entry.status.container)) writeClusterDns();
  }

  /** The Services' DNS records for node programs (cluster-dns.mjs), rewritten only when they change. */
  function writeClusterDns(): void {
    if (!api) return;
    const records = JSON.stringify(
      serviceRecords(
        api.objects.list(type("v1", "Service"), undefined) as Json[],
        api.objects.list(type("v1", "Pod"), undefined) as Json[],
      ),
    );
    let current: string | undefined;
    try {
      current = readFileSync(dnsFile, "utf8");
    } catch {
      current = undefined;
    }
    if (current === records) return;
    writeFileSync(`${dnsFile}.tmp`, records);
    // Rename, so a lookup never reads half a file.
    renameSync(`${dnsFile}.tmp`, dnsFile);
  }

  async function probe(): Promise<void> {
    await Promise.all(
      [...running.values()].map(async (entry) => {
        if (!entry.child || entry.stopping) return;
        const pod = find("Pod", ...(entry.key.split("/") as [string, string]));
        const check = pod ? firstContainer(pod)?.readinessProbe?.httpGet : undefined;
        const ports = pod ? (firstContainer(pod)?.ports ?? []) : [];
        const port =
          typeof check?.port === "number"
            ? check.port
            : ports.find((p) => p.name === check?.port)?.containerPort;
        const ready = check
          ? await fetch(`http://${entry.ip}:${port}${check.path}`, {
              signal: AbortSignal.timeout(1_000),
            }).then(
              (response) => response.ok,
              () => false,
            )
          : true;
        if (ready !== entry.status.ready && entry.child && !entry.stopping) {
          entry.status = { ...entry.status, ready };
          emit(entry.key, ready ? "ready" : "not ready");
          writeStatus(entry);
        }
      }),
    );
  }

  const schedule = () => {
    if (!stopAll) scheduled ??= setImmediate(sync);
  };

  return {
    factory: (inProcess) => {
      api = inProcess;
      mkdirSync(options.workDir, { recursive: true });
      const unsubscribe = inProcess.storage.subscribe((event) => {
        if (
          ["apps/statefulsets", "apps/deployments", "/pods", "/secrets", "/configmaps", "/services"].includes(
            event.resource,
          )
        )
          schedule();
      });
      const loop = () => {
        probeTimer = setTimeout(
          () => void probe().finally(() => !stopAll && loop()),
          options.readinessIntervalMs ?? 500,
        );
      };
      loop();
      schedule();
      return {
        async stop() {
          unsubscribe();
          if (scheduled) clearImmediate(scheduled);
          if (probeTimer) clearTimeout(probeTimer);
          stopAll ??= Promise.all(
            [...running.values()].map((entry) => terminate(entry, options.maxGraceMs ?? 30_000)),
          ).then(() => undefined);
          await stopAll;
          api = undefined;
        },
      };
    },
    pods: () => [...running.values()],
    async stopped() {
      await stopAll;
    },
  };
}

/** Removes a kubelet's work directory (pods, logs, retained claims). */
export function removeWorkDir(workDir: string): void {
  rmSync(workDir, { recursive: true, force: true });
}
