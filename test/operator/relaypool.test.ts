/** RelayPool reconciled against the test API server (with the fake kubelet) and a real Redis. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import type { RelayPool } from "../../operator/api/relaypool.js";
import type { KubeObject } from "../../operator/kube/client.js";
import type { Operator } from "../../operator/operator.js";
import { get, type Harness, startHarness, waitFor } from "./harness.js";

let h: Harness;
let operator: Operator;

const pool = (spec: Record<string, unknown>) => `
apiVersion: relayfleet.io/v1alpha1
kind: RelayPool
metadata: { name: marathon, namespace: mail }
spec:
  image: relayfleet:0.1.0
  hostname: smtp-marathon.example.com
  dnsTTL: ${spec.dnsTTL ?? 60}
  redis: { url: "redis://redis:6379/0" }
  drain: ${JSON.stringify(spec.drain ?? { timeoutSeconds: 30 })}
${Object.entries(spec)
  .filter(([k]) => k !== "dnsTTL" && k !== "drain")
  .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
  .join("\n")}
`;

/** A second pool with no relays, for settings a test sets and would otherwise leave on marathon. */
const sidePool = (spec: Record<string, unknown>) => `
apiVersion: relayfleet.io/v1alpha1
kind: RelayPool
metadata: { name: side, namespace: mail }
spec:
  replicas: 0
  dnsTTL: 1
  redis: { url: "redis://redis:6379/0" }
${Object.entries(spec)
  .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
  .join("\n")}
`;
const sideStatus = async () =>
  (await get<RelayPool>(h, "relayfleet.io/v1alpha1", "relaypools", "side"))?.status;
const deleteSide = () =>
  h.client.delete({ apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" }, "side");

type Dns = {
  spec: { endpoints: { dnsName: string; recordType: string; recordTTL: number; targets: string[] }[] };
};
const dnsTargets = async () =>
  (await get<Dns>(h, "externaldns.k8s.io/v1alpha1", "dnsendpoints", "marathon"))?.spec.endpoints;
const poolStatus = async () =>
  (await get<RelayPool>(h, "relayfleet.io/v1alpha1", "relaypools", "marathon"))?.status;
type Sts = { spec: { replicas: number; template: { metadata: { annotations: Record<string, string> } } } };
const sts = () => get<Sts>(h, "apps/v1", "statefulsets", "marathon");

beforeAll(async () => {
  h = await startHarness({ redisUrl: inject("redisUrl"), serviceMonitor: true });
  operator = await h.startOperator();
  await waitFor(() => operator.isLeader);
});

afterAll(async () => {
  await h?.stop();
});

describe("RelayPool", () => {
  it("creates the workload, config, services, PDB, ServiceMonitor and DNS records, and reports status", async () => {
    await h.applyYaml(pool({ replicas: 2 }));
    await expect.poll(async () => (await poolStatus())?.readyReplicas, { timeout: 5_000 }).toBe(2);

    const workload = await sts();
    expect(workload?.spec.replicas).toBe(2);
    expect(workload?.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "RelayPool",
      name: "marathon",
      controller: true,
    });
    const config = await get<{ data: Record<string, string> }>(h, "v1", "configmaps", "marathon-config");
    expect(parse(config?.data["relay.yaml"] ?? "")).toMatchObject({
      mode: "full",
      hostname: "smtp-marathon.example.com",
    });
    const smtp = await get<{ spec: Record<string, unknown> }>(h, "v1", "services", "marathon-smtp");
    expect(smtp?.spec).toMatchObject({ type: "LoadBalancer", externalTrafficPolicy: "Local" });
    expect(await get(h, "v1", "services", "marathon-tracking")).toBeDefined();
    expect(await get(h, "v1", "services", "marathon-relays")).toBeDefined();
    expect(await get(h, "policy/v1", "poddisruptionbudgets", "marathon")).toBeDefined();
    expect(await get(h, "monitoring.coreos.com/v1", "servicemonitors", "marathon")).toBeDefined();
    expect(await get(h, "v1", "secrets", "marathon-api-token")).toBeDefined();
    // One tracking key for every relay of the pool, so a link one relay wrote is followed on any other.
    const trackingKey = await get<{ data: { secret: string } }>(
      h,
      "v1",
      "secrets",
      "marathon-tracking-secret",
    );
    expect(Buffer.from(trackingKey?.data.secret ?? "", "base64").length).toBeGreaterThanOrEqual(32);
    const relayEnv = (
      workload as unknown as {
        spec: { template: { spec: { containers: { env: { name: string; valueFrom?: unknown }[] }[] } } };
      }
    )?.spec.template.spec.containers[0]?.env;
    expect(relayEnv?.find((e) => e.name === "RELAYFLEET_TRACKING_SECRET")?.valueFrom).toEqual({
      secretKeyRef: { name: "marathon-tracking-secret", key: "secret" },
    });

    await expect
      .poll(dnsTargets, { timeout: 3_000 })
      .toEqual([
        { dnsName: "smtp-marathon.example.com", recordType: "A", recordTTL: 60, targets: expect.any(Array) },
      ]);
    expect((await dnsTargets())?.[0]?.targets).toHaveLength(2);
    const status = await poolStatus();
    expect(status).toMatchObject({
      replicas: 2,
      desiredReplicas: 2,
      observedGeneration: 1,
      selector: "app.kubernetes.io/component=relay,relayfleet.io/pool=marathon",
    });
    expect(status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(status?.endpoints).toEqual((await dnsTargets())?.[0]?.targets);
  });

  it("holds the pool with the drain finalizer, and says a pool without TLS offers no AUTH", async () => {
    const found = await get<RelayPool>(h, "relayfleet.io/v1alpha1", "relaypools", "marathon");
    expect(found?.metadata?.finalizers).toContain("relayfleet.io/drain");
    await expect
      .poll(async () => (await poolStatus())?.conditions?.find((c) => c.type === "Degraded"), {
        timeout: 3_000,
      })
      .toMatchObject({ status: "True", reason: "NoTLS", message: expect.stringContaining("no AUTH") });
  });

  it("mounts the TLS Secret the pool names, and says which Secret or key is missing until it is there", async () => {
    const bump = async (n: number) =>
      h.client.mergePatch(
        { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
        "side",
        { metadata: { annotations: { "test/round": String(n) } } },
      );
    await h.applyYaml(sidePool({ tls: { secretName: "side-cert" }, smtpPorts: [25, 465, 587] }));
    const degraded = async () => (await sideStatus())?.conditions?.find((c) => c.type === "Degraded");
    await expect
      .poll(degraded, { timeout: 3_000 })
      .toMatchObject({ reason: "TLSSecretUnusable", message: "TLS secret side-cert not found" });
    type Template = { spec: { template: { spec: { volumes: { name: string; secret?: unknown }[] } } } };
    const volumes = (await get<Template>(h, "apps/v1", "statefulsets", "side"))?.spec.template.spec.volumes;
    expect(volumes?.find((v) => v.name === "tls")?.secret).toMatchObject({ secretName: "side-cert" });
    const config = await get<{ data: Record<string, string> }>(h, "v1", "configmaps", "side-config");
    expect(parse(config?.data["relay.yaml"] ?? "")).toMatchObject({
      listen: { smtp: ["0.0.0.0:25", "0.0.0.0:587"], smtps: ["0.0.0.0:465"] },
      tls: { cert: "/etc/relayfleet-tls/tls.crt", key: "/etc/relayfleet-tls/tls.key" },
    });

    const pem = Buffer.from("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").toString("base64");
    await h.client.create(
      { apiVersion: "v1", plural: "secrets", namespace: "mail" },
      {
        metadata: { name: "side-cert" },
        type: "kubernetes.io/tls",
        data: { "tls.crt": pem, "tls.key": "" },
      },
    );
    await bump(1);
    await expect
      .poll(degraded, { timeout: 3_000 })
      .toMatchObject({ reason: "TLSSecretUnusable", message: "TLS secret side-cert has no tls.key" });
    await h.client.mergePatch({ apiVersion: "v1", plural: "secrets", namespace: "mail" }, "side-cert", {
      data: { "tls.key": pem },
    });
    await bump(2);
    await expect.poll(degraded, { timeout: 3_000 }).toMatchObject({ status: "False", reason: "AsExpected" });
    await deleteSide();
  });

  it("refuses spec.relay values only the relay's schema catches, naming the field and changing nothing", async () => {
    await expect
      .poll(() => get(h, "relayfleet.io/v1alpha1", "relaypools", "side"), { timeout: 5_000 })
      .toBeUndefined();
    await h.applyYaml(sidePool({ relay: { retentionDays: 12 } }));
    const relayYaml = async () =>
      (await get<{ data: Record<string, string> }>(h, "v1", "configmaps", "side-config"))?.data["relay.yaml"];
    await expect
      .poll(async () => parse((await relayYaml()) ?? "{}").retentionDays, { timeout: 3_000 })
      .toBe(12);
    await h.applyYaml(
      sidePool({ relay: { retentionDays: 13, tracking: { trustForwardedFrom: ["proxy"] } } }),
    );
    await expect
      .poll(async () => (await sideStatus())?.conditions?.find((c) => c.type === "Degraded"), {
        timeout: 3_000,
      })
      .toMatchObject({
        reason: "InvalidRelaySettings",
        message: expect.stringContaining(
          "spec.relay.tracking.trustForwardedFrom[0]: an IP address or CIDR range",
        ),
      });
    expect(parse((await relayYaml()) ?? "{}").retentionDays).toBe(12);
    expect(await relayYaml()).not.toContain("proxy");
    await deleteSide();
  });

  it("publishes the load balancer's addresses with publishAddresses loadBalancer", async () => {
    await expect
      .poll(() => get(h, "relayfleet.io/v1alpha1", "relaypools", "side"), { timeout: 5_000 })
      .toBeUndefined();
    await h.applyYaml(
      sidePool({
        replicas: 1,
        hostname: "smtp-side.example.com",
        service: { type: "LoadBalancer", publishAddresses: "loadBalancer" },
      }),
    );
    const sideDns = async () =>
      (await get<Dns>(h, "externaldns.k8s.io/v1alpha1", "dnsendpoints", "side"))?.spec.endpoints;
    await expect
      .poll(async () => (await sideStatus())?.conditions?.find((c) => c.type === "Degraded")?.message, {
        timeout: 5_000,
      })
      .toContain("the load balancer of side-smtp has no address yet");
    expect(await sideDns()).toEqual([]);
    // What a cloud's service controller writes once the load balancer is up.
    await h.client.mergePatch(
      { apiVersion: "v1", plural: "services", namespace: "mail" },
      "side-smtp",
      { status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } } },
      "status",
    );
    await h.client.mergePatch(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
      "side",
      { metadata: { annotations: { "test/round": "lb" } } },
    );
    await expect
      .poll(async () => (await sideDns())?.[0]?.targets, { timeout: 5_000 })
      .toEqual(["203.0.113.7"]);
    await deleteSide();
    await expect
      .poll(() => get(h, "relayfleet.io/v1alpha1", "relaypools", "side"), { timeout: 10_000 })
      .toBeUndefined();
  });

  it("keeps the DNS targets to the ready relays, and removes the record set when none is ready", async () => {
    const ips = h.kubelet.podIps();
    const host = (pod: string) => (ips.get(pod) ?? "").replace(/^10\.0\.0\./, "192.0.2.");
    h.kubelet.setReady("marathon-1", false);
    await expect
      .poll(async () => (await dnsTargets())?.[0]?.targets, { timeout: 3_000 })
      .toEqual([host("marathon-0")]);
    h.kubelet.setReady("marathon-0", false);
    await expect.poll(dnsTargets, { timeout: 3_000 }).toEqual([]);
    await expect
      .poll(async () => (await poolStatus())?.conditions?.find((c) => c.type === "Ready")?.reason, {
        timeout: 2_000,
      })
      .toBe("NoRelayReady");
    h.kubelet.setReady("marathon-0", true);
    h.kubelet.setReady("marathon-1", true);
    await expect.poll(async () => (await dnsTargets())?.[0]?.targets.length, { timeout: 3_000 }).toBe(2);
  });

  it("switches mode by rolling the relays with a new config (the hash on the pod template changes)", async () => {
    const before = (await sts())?.spec.template.metadata.annotations["relayfleet.io/config-hash"];
    await h.applyYaml(pool({ replicas: 2, mode: "passthrough" }));
    await expect.poll(async () => (await poolStatus())?.observedGeneration, { timeout: 3_000 }).toBe(2);
    const config = await get<{ data: Record<string, string> }>(h, "v1", "configmaps", "marathon-config");
    expect(parse(config?.data["relay.yaml"] ?? "").mode).toBe("passthrough");
    expect((await sts())?.spec.template.metadata.annotations["relayfleet.io/config-hash"]).not.toBe(before);
  });

  it("scales through the scale subresource: the relay it removes leaves DNS, drains after the TTL, then goes", async () => {
    await h.applyYaml(pool({ replicas: 2, mode: "passthrough", dnsTTL: 2 }));
    await expect.poll(async () => (await poolStatus())?.observedGeneration, { timeout: 3_000 }).toBe(3);
    await expect.poll(async () => (await dnsTargets())?.[0]?.targets.length, { timeout: 3_000 }).toBe(2);
    const secret = await get<{ data: { token: string } }>(h, "v1", "secrets", "marathon-api-token");
    const token = Buffer.from(secret?.data.token ?? "", "base64").toString();
    const leaving = await h.relay("marathon-1");
    leaving.metrics.queueMessages.set({ state: "queued" }, 3);
    const scaledAt = Date.now();
    await h.client.mergePatch(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
      "marathon",
      { spec: { replicas: 1 } },
      "scale",
    );
    // Out of the records at once, still taking mail (not told to drain) while clients may hold them.
    await expect.poll(async () => (await dnsTargets())?.[0]?.targets.length, { timeout: 3_000 }).toBe(1);
    expect(leaving.drainCalls).toBe(0);
    await expect.poll(() => leaving.drainCalls, { timeout: 5_000 }).toBe(1);
    expect(Date.now() - scaledAt).toBeGreaterThanOrEqual(2_000);
    expect(leaving.tokens).toEqual([token]);
    // Mail still queued on the relay: it stays until the queue is empty.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await sts())?.spec.replicas).toBe(2);
    expect((await poolStatus())?.conditions?.find((c) => c.type === "Scaling")?.reason).toBe("Draining");
    leaving.metrics.queueMessages.set({ state: "queued" }, 0);
    await expect.poll(async () => (await sts())?.spec.replicas, { timeout: 4_000 }).toBe(1);
    await expect.poll(async () => (await poolStatus())?.replicas, { timeout: 3_000 }).toBe(1);
    const scale = await h.client.request<{
      spec: { replicas: number };
      status: { replicas: number; selector: string };
    }>("GET", "/apis/relayfleet.io/v1alpha1/namespaces/mail/relaypools/marathon/scale");
    expect(scale).toMatchObject({
      spec: { replicas: 1 },
      status: { replicas: 1, selector: expect.stringContaining("relayfleet.io/pool=marathon") },
    });
  });

  it("hands a leaving relay's queue to the relays that stay when its drain runs out of time", async () => {
    await h.applyYaml(pool({ replicas: 2, mode: "passthrough", dnsTTL: 1, drain: { timeoutSeconds: 1 } }));
    await expect.poll(async () => (await poolStatus())?.readyReplicas, { timeout: 5_000 }).toBe(2);
    const staying = await h.relay("marathon-0");
    const leaving = await h.relay("marathon-1");
    leaving.metrics.queueMessages.set({ state: "deferred" }, 5);
    await h.client.mergePatch(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
      "marathon",
      { spec: { replicas: 1 } },
      "scale",
    );
    await expect.poll(() => leaving.handoffs, { timeout: 8_000 }).toEqual([[staying.url]]);
    expect(staying.handoffs).toEqual([]);
    await expect.poll(async () => (await sts())?.spec.replicas, { timeout: 5_000 }).toBe(1);
    const events = await h.client.list<KubeObject & { reason?: string; message?: string }>({
      apiVersion: "v1",
      plural: "events",
      namespace: "mail",
    });
    expect(events.items.map((e) => `${e.reason}: ${e.message}`)).toEqual(
      expect.arrayContaining([
        "HandingOff: relay marathon-1 still had 5 messages at the drain deadline; handing them to 1 relay(s)",
        "Drained: relay marathon-1 drained: it handed its queue to the other relays",
      ]),
    );
  });

  it("switches the workload to a Deployment and removes the StatefulSet", async () => {
    await h.applyYaml(pool({ replicas: 1, mode: "passthrough", workload: "Deployment" }));
    await expect
      .poll(async () => (await get(h, "apps/v1", "deployments", "marathon")) !== undefined, {
        timeout: 3_000,
      })
      .toBe(true);
    await expect.poll(sts, { timeout: 3_000 }).toBeUndefined();
    await expect.poll(async () => (await poolStatus())?.readyReplicas, { timeout: 3_000 }).toBe(1);
  });

  it("drains a deleted pool before it goes: DNS first, relays one by one handing off, mail left behind named", async () => {
    await h.applyYaml(pool({ replicas: 2, mode: "passthrough", dnsTTL: 1, drain: { timeoutSeconds: 1 } }));
    await expect
      .poll(async () => (await get(h, "apps/v1", "statefulsets", "marathon")) !== undefined)
      .toBe(true);
    await expect.poll(async () => (await poolStatus())?.readyReplicas, { timeout: 5_000 }).toBe(2);
    await expect.poll(async () => (await dnsTargets())?.[0]?.targets.length, { timeout: 3_000 }).toBe(2);
    const last = await h.relay("marathon-0");
    const first = await h.relay("marathon-1");
    const drainsBefore = { last: last.drainCalls, first: first.drainCalls };
    const handoffsBefore = first.handoffs.length;
    first.metrics.queueMessages.set({ state: "deferred" }, 4);
    last.metrics.queueMessages.set({ state: "deferred" }, 3);
    await h.client.delete(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
      "marathon",
    );
    // Out of DNS before any relay is told to drain.
    await expect.poll(dnsTargets, { timeout: 3_000 }).toEqual([]);
    expect(first.drainCalls).toBe(drainsBefore.first);
    expect(last.drainCalls).toBe(drainsBefore.last);
    expect(await get(h, "relayfleet.io/v1alpha1", "relaypools", "marathon")).toBeDefined();
    // The highest ordinal first, handing its queue to the relay still serving.
    await expect.poll(() => first.handoffs.slice(handoffsBefore), { timeout: 10_000 }).toEqual([[last.url]]);
    expect(last.drainCalls).toBe(drainsBefore.last);
    // Then the last one: nobody left to take its 3 messages; after its drain timeout the pool goes.
    await expect.poll(() => last.drainCalls, { timeout: 10_000 }).toBe(drainsBefore.last + 1);
    await expect
      .poll(async () => get(h, "relayfleet.io/v1alpha1", "relaypools", "marathon"), { timeout: 15_000 })
      .toBeUndefined();
    const events = await h.client.list<KubeObject & { reason?: string; message?: string }>({
      apiVersion: "v1",
      plural: "events",
      namespace: "mail",
    });
    expect(events.items.map((e) => `${e.reason}: ${e.message}`)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Deleting: DNS records withdrawn/),
        "MailLeftBehind: pool deleted with 3 messages still queued on relay marathon-0, with no relay left to hand them to: they stay on PersistentVolumeClaim spool-marathon-0 (retained: a RelayPool named marathon delivers it when marathon-0 runs again)",
      ]),
    );
    const owned = async () =>
      [
        await get(h, "apps/v1", "deployments", "marathon"),
        await get(h, "v1", "configmaps", "marathon-config"),
        await get(h, "v1", "services", "marathon-smtp"),
        await get(h, "v1", "services", "marathon-relays"),
        await get(h, "policy/v1", "poddisruptionbudgets", "marathon"),
        await get(h, "externaldns.k8s.io/v1alpha1", "dnsendpoints", "marathon"),
        await get(h, "monitoring.coreos.com/v1", "servicemonitors", "marathon"),
        await get(h, "v1", "secrets", "marathon-api-token"),
      ].filter((o) => o !== undefined).length;
    await expect.poll(owned, { timeout: 3_000 }).toBe(0);
    const pods = await h.client.list({ apiVersion: "v1", plural: "pods", namespace: "mail" });
    expect(pods.items).toEqual([]);
  });
});
