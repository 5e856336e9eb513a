/**
 * Autoscaling from scraped metrics: fake relays serve the relay's own metric
 * names over real HTTP; the operator scrapes them, scales up at once, and
 * scales down only after the stabilization window, draining the relays it
 * removes first.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { RelayPool } from "../../operator/api/relaypool.js";
import type { Operator } from "../../operator/operator.js";
import { get, type Harness, startHarness, waitFor } from "./harness.js";

let h: Harness;
let operator: Operator;

beforeAll(async () => {
  h = await startHarness({ redisUrl: inject("redisUrl") });
  operator = await h.startOperator();
  await waitFor(() => operator.isLeader);
});

afterAll(async () => {
  await h?.stop();
});

const replicas = async () =>
  (await get<{ spec: { replicas: number } }>(h, "apps/v1", "statefulsets", "burst"))?.spec.replicas;

describe("autoscaling", () => {
  it("scales up from queue depth, then down after the stabilization window, draining first", async () => {
    await h.applyYaml(`
apiVersion: relayfleet.io/v1alpha1
kind: RelayPool
metadata: { name: burst, namespace: mail }
spec:
  image: relayfleet:0.1.0
  dnsTTL: 1
  redis: { url: "redis://redis:6379/0" }
  autoscaling: { minReplicas: 1, maxReplicas: 4, metric: queue, target: 10, intervalSeconds: 1, scaleDownStabilizationSeconds: 3 }
`);
    await expect.poll(replicas, { timeout: 3_000 }).toBe(1);
    await waitFor(() => h.relays.has("burst-0"));
    const first = await h.relay("burst-0");
    first.metrics.queueMessages.set({ state: "queued" }, 35);
    await expect.poll(replicas, { timeout: 4_000 }).toBe(4);
    const poolStatus = async () =>
      (await get<RelayPool>(h, "relayfleet.io/v1alpha1", "relaypools", "burst"))?.status;
    await expect.poll(async () => (await poolStatus())?.desiredReplicas, { timeout: 2_000 }).toBe(4);
    const status = { status: await poolStatus() };
    expect(status?.status?.lastScaleTime).toBeDefined();
    const gauge = await operator.metrics.registry.getSingleMetricAsString(
      "relayfleet_operator_desired_replicas",
    );
    expect(gauge).toContain('relayfleet_operator_desired_replicas{namespace="mail",pool="burst"} 4');

    // The load is gone; the window keeps the pool at 4 for 3 s, then it drains 1..3 and shrinks.
    first.metrics.queueMessages.set({ state: "queued" }, 0);
    const quietSince = Date.now();
    await expect.poll(replicas, { timeout: 8_000, interval: 100 }).toBe(1);
    expect(Date.now() - quietSince).toBeGreaterThanOrEqual(2_500);
    for (const pod of ["burst-1", "burst-2", "burst-3"]) expect(h.relays.get(pod)?.drainCalls).toBe(1);
    expect(first.drainCalls).toBe(0);
  });
});
