import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeClients } from "../kube/kube-tools.js";
import { exampleYaml, senderName } from "./examples.js";
import { type Fleet, startFleet } from "./fleet.js";
import { adminToken, aRecords, putAccount, type SendResult, sendMail } from "./mail.js";

type Json = Record<string, unknown>;
const PREFIX = "127.0.4";

describe("the fleet on one machine", () => {
  let fleet: Fleet;
  let dir: string;
  const replicasSeen: number[] = [];
  const desiredSeen: number[] = [];
  const recordsSeen = new Set<string>();
  let sampler: NodeJS.Timeout | undefined;

  const find = (apiVersion: string, kind: string, name: string) => {
    const type = fleet.server.api.types.findByKind(apiVersion, kind);
    return type ? (fleet.server.api.objects.find(type, "mail", name) as Json | undefined) : undefined;
  };
  const condition = (status: Json, type: string) =>
    ((status.conditions ?? []) as Json[]).find((c) => c.type === type);
  /** The settled pool's status in a comparable shape: conditions, generations, replica counts. */
  const settledView = () => {
    const pool = find("relayfleet.io/v1alpha1", "RelayPool", "marathon");
    const status = (pool?.status ?? {}) as Json;
    return {
      generationObserved: status.observedGeneration === (pool?.metadata as Json | undefined)?.generation,
      ready: condition(status, "Ready")?.status,
      scaling: condition(status, "Scaling")?.status,
      desiredReplicas: status.desiredReplicas,
      readyReplicas: status.readyReplicas,
    };
  };
  const settled = {
    generationObserved: true,
    ready: "True",
    scaling: "False",
    desiredReplicas: 2,
    readyReplicas: 2,
  };
  const poolStatus = () => (find("relayfleet.io/v1alpha1", "RelayPool", "marathon")?.status ?? {}) as Json;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "relayfleet-e2e-"));
    fleet = await startFleet({ workDir: dir, addressPrefix: PREFIX, maxGraceMs: 30_000 });
    const file = join(dir, "examples.yaml");
    await writeFile(
      file,
      exampleYaml({
        redisUrl: fleet.redis.url,
        prometheusUrl: fleet.prometheusUrl,
        isps: [...fleet.peers].map(([domain, peer]) => ({ domain, host: peer.host, port: peer.port })),
        sourceAddresses: fleet.sourceAddresses,
        trackingBaseUrl: `http://${PREFIX}.1:8080`,
        autoscaling: { minReplicas: 2, maxReplicas: 4, target: 20, scaleDownStabilizationSeconds: 8 },
        drainTimeoutSeconds: 20,
      }),
    );
    const { kubectl } = kubeClients(fleet.kubeconfigPath, dir);
    for (const path of ["crds/", file]) {
      const result = await kubectl(["apply", "-f", path]);
      if (result.code !== 0) throw new Error(result.stderr);
    }
    const deadline = Date.now() + 60_000;
    while (aRecords(fleet.server).length < 2) {
      if (Date.now() > deadline) throw new Error("pool not ready within 60 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    await putAccount(aRecords(fleet.server)[0] as string, adminToken(fleet.server));
    sampler = setInterval(() => {
      const status = poolStatus();
      replicasSeen.push(Number(status.readyReplicas ?? 0));
      desiredSeen.push(Number(status.desiredReplicas ?? 0));
      for (const ip of aRecords(fleet.server)) recordsSeen.add(ip);
    }, 250);
  }, 120_000);

  afterAll(async () => {
    if (sampler) clearInterval(sampler);
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("takes mail through its A records, scales up under load, routes around a block, scales down, loses nothing", async () => {
    const ispA = fleet.peers.get("isp-a.test");
    if (!ispA) throw new Error("no ISP A");
    // Settled at minReplicas before any load, and the status says so.
    await expect.poll(settledView, { timeout: 20_000, interval: 250 }).toEqual(settled);
    let blockedAt = 0;
    const results: SendResult[] = await sendMail({
      records: () => aRecords(fleet.server),
      domains: [...fleet.peers.keys()],
      count: 800,
      concurrency: 30,
      idPrefix: "e2e",
      onResult: () => {
        if (blockedAt === 0 && ispA.received.length > 100) {
          blockedAt = Date.now();
          ispA.forSource(fleet.sourceAddresses[0], "blocked");
        }
      },
    });
    const accepted = results.filter((r) => r.accepted);
    expect(accepted.length).toBeGreaterThan(780);
    expect(blockedAt).toBeGreaterThan(0);

    // The block became a SenderRoute status entry (and so a published failover route) within 5 s.
    const blockedSender = senderName("isp-a.test", 0);
    await expect
      .poll(
        () =>
          (((find("relayfleet.io/v1alpha1", "SenderRoute", "default")?.status ?? {}) as Json).blocked ??
            []) as Json[],
        { timeout: 5_000, interval: 100 },
      )
      .toContainEqual(expect.objectContaining({ sender: blockedSender, domain: "isp-a.test" }));

    // Every accepted message arrives exactly once at its ISP.
    const all = () => [...fleet.peers.values()].flatMap((peer) => peer.received);
    await expect
      .poll(() => all().length, { timeout: 60_000, interval: 500 })
      .toBeGreaterThanOrEqual(accepted.length);
    const ids = all().map((m) => /Message-ID: <([^>]+)>/i.exec(m.raw.toString())?.[1]);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(String(id), (counts.get(String(id)) ?? 0) + 1);
    for (const r of accepted) expect(counts.get(r.messageId), r.messageId).toBe(1);
    for (const r of accepted) {
      const peer = fleet.peers.get(r.to.split("@")[1] as string);
      expect(peer?.received.some((m) => m.to.includes(r.to))).toBe(true);
    }
    // After the block was reported, no mail to ISP A left from the blocked address.
    const reportedAt = blockedAt + 5_000;
    expect(
      ispA.received.filter((m) => m.receivedAt > reportedAt && m.clientIp === fleet.sourceAddresses[0]),
    ).toEqual([]);

    // The pool grew under load and shrinks back to its minimum once the queue is gone, draining.
    // Relays take a few seconds to start: the scale-up shows once they are ready.
    await expect.poll(() => Math.max(...replicasSeen), { timeout: 40_000, interval: 250 }).toBeGreaterThan(2);
    expect(recordsSeen.size).toBeGreaterThan(2);
    // The status told the scale-up while it happened: more replicas desired than the minimum.
    expect(Math.max(...desiredSeen)).toBeGreaterThan(2);
    await expect
      .poll(() => [poolStatus().readyReplicas, aRecords(fleet.server).length], {
        timeout: 60_000,
        interval: 500,
      })
      .toEqual([2, 2]);
    // Settled again at minReplicas: Ready, not Scaling, the latest generation observed.
    await expect.poll(settledView, { timeout: 30_000, interval: 250 }).toEqual(settled);

    // No relay lost its spool on scale-down: the removed relays' claims (kept as directories by the
    // kubelet, named <volume>-<pod>) hold no queued message, so everything they took was delivered.
    const claimsDir = join(dir, "node", "claims");
    const running = new Set(fleet.kubelet.pods().map((p) => p.key.split("/")[1] as string));
    const removedClaims = (await readdir(claimsDir)).filter(
      (claim) => ![...running].some((pod) => claim.endsWith(`-${pod}`)),
    );
    expect(removedClaims.length).toBeGreaterThan(0);
    for (const claim of removedClaims) {
      const files = await readdir(join(claimsDir, claim), { recursive: true });
      // The claim really was the relay's spool (it made its queue there), so an empty one means something.
      expect(
        files.some((f) => basename(f) === "queue"),
        `${claim} is not a spool: ${files.join(", ")}`,
      ).toBe(true);
      expect(
        files.filter((f) => f.endsWith(".msg")),
        `queued messages left in ${claim}`,
      ).toEqual([]);
    }
  }, 240_000);

  it("leaves nothing running when stopped", async () => {
    const pids = fleet.kubelet.pods().map((p) => p.child?.pid as number);
    await fleet.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0), `relay ${pid} still running`).toThrow();
  });
});
