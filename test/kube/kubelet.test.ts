import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../operator/kube/client.js";
import { apiTokenSecret, configMap, trackingSecret } from "../../operator/specs/config.js";
import { statefulSet } from "../../operator/specs/workload.js";
import { testPool } from "../operator/pool.js";
import { alive } from "../support/processes.js";
import { startTestApiServer, type TestApiServer } from "./index.js";
import { type Kubelet, relayKubelet } from "./kubelet.js";

type Json = Record<string, unknown>;

function banner(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(5_000, () => reject(new Error("no banner")));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.once("error", reject);
  });
}

describe("the minimal kubelet", () => {
  let server: TestApiServer;
  let kubelet: Kubelet;
  let workDir: string;
  const events: string[] = [];
  const pool = testPool(
    {
      redis: { url: inject("redisUrl"), cluster: false },
      spool: { size: "1Gi" },
      smtpPorts: [25],
      drain: { timeoutSeconds: 5 },
    },
    { name: "k", uid: "u-k" },
  );
  const type = (apiVersion: string, kind: string) => {
    const found = server.api.types.findByKind(apiVersion, kind);
    if (!found) throw new Error(kind);
    return found;
  };
  const pod = (name: string) => server.api.objects.find(type("v1", "Pod"), "mail", name) as Json | undefined;
  const podStatus = (name: string) => (pod(name)?.status ?? {}) as { podIP?: string; conditions?: Json[] };
  const isReady = (name: string) =>
    podStatus(name).conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "relayfleet-kubelet-"));
    kubelet = relayKubelet({
      workDir,
      onEvent: (e) => events.push(`${e.pod} ${e.what}`),
      addressPrefix: "127.0.2",
      maxGraceMs: 8_000,
      readinessIntervalMs: 200,
    });
    server = await startTestApiServer({
      kubeconfigPath: join(workDir, "kubeconfig"),
      controllers: [kubelet.factory],
    });
    server.api.objects.create(type("v1", "Namespace"), undefined, { metadata: { name: "mail" } } as never);
    // Without a RelayPool here, the garbage collector would take objects owned by one.
    const unowned = (object: KubeObject) => {
      delete object.metadata?.ownerReferences;
      return object as never;
    };
    server.api.objects.create(type("v1", "Secret"), "mail", unowned(apiTokenSecret(pool, "t".repeat(32))));
    server.api.objects.create(type("v1", "Secret"), "mail", unowned(trackingSecret(pool, "s".repeat(43))));
    server.api.objects.create(type("v1", "ConfigMap"), "mail", unowned(configMap(pool)));
    server.api.objects.create(type("apps/v1", "StatefulSet"), "mail", unowned(statefulSet(pool, 2)));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it("runs each pod as a relay on its own loopback address and reports readiness from /readyz", async () => {
    await expect.poll(() => isReady("k-0") && isReady("k-1"), { timeout: 40_000, interval: 200 }).toBe(true);
    const ips = [podStatus("k-0").podIP, podStatus("k-1").podIP];
    expect(new Set(ips).size).toBe(2);
    for (const ip of ips) {
      expect(ip).toMatch(/^127\.0\.2\.\d+$/);
      expect(await banner(ip as string, 25)).toMatch(/^220 smtp\.example\.com /);
      expect((await fetch(`http://${ip}:8081/readyz`)).status).toBe(200);
    }
    // The admin token reached the relay from the Secret through env valueFrom.
    const drainUnauth = await fetch(`http://${ips[0]}:8081/v1/admin/drain`, {
      method: "POST",
      headers: { authorization: "Bearer wrong-token-wrong-token" },
    });
    expect(drainUnauth.status).toBe(401);
    const sts = server.api.objects.find(type("apps/v1", "StatefulSet"), "mail", "k") as Json;
    expect(sts.status).toMatchObject({ replicas: 2, readyReplicas: 2 });
  });

  it("restarts a relay that dies, counting the restart", async () => {
    const entry = kubelet.pods().find((p) => p.name === "k-0");
    const pid = entry?.child?.pid as number;
    process.kill(pid, "SIGKILL");
    await expect
      .poll(
        () => {
          const status = pod("k-0")?.status as { containerStatuses?: { restartCount: number }[] };
          return status.containerStatuses?.[0]?.restartCount === 1 && isReady("k-0");
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(true);
  });

  it("stops a deleted pod with SIGTERM, holds it Terminating until the process exits, and keeps its claim", async () => {
    const leaving = kubelet.pods().find((p) => p.name === "k-1");
    const pid = leaving?.child?.pid as number;
    const sts = server.api.objects.find(type("apps/v1", "StatefulSet"), "mail", "k") as Json;
    server.api.objects.putInternal(type("apps/v1", "StatefulSet"), {
      ...sts,
      spec: { ...(sts.spec as Json), replicas: 1 },
    } as never);
    await expect.poll(() => pod("k-1") === undefined, { timeout: 15_000, interval: 100 }).toBe(true);
    expect(alive(pid)).toBe(false);
    const mine = events.filter((e) => e.startsWith("mail/k-1 "));
    expect(mine.indexOf("mail/k-1 SIGTERM")).toBeGreaterThan(-1);
    expect(mine.indexOf("mail/k-1 removed")).toBeGreaterThan(mine.indexOf("mail/k-1 SIGTERM"));
    expect(mine).not.toContain("mail/k-1 SIGKILL after grace period");
    expect(existsSync(join(workDir, "claims", "spool-k-1"))).toBe(true);
    await expect
      .poll(() => (server.api.objects.find(type("apps/v1", "StatefulSet"), "mail", "k") as Json).status)
      .toMatchObject({ replicas: 1, readyReplicas: 1 });
  });

  it("leaves no process running when the API server stops", async () => {
    const pids = kubelet.pods().map((p) => p.child?.pid as number);
    expect(pids.length).toBe(1);
    await server.stop();
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});
