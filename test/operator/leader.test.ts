/** Two operator replicas: only the Lease holder reconciles; the other takes over when it stops. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Operator } from "../../operator/operator.js";
import { type Harness, poolUsingRoute, startHarness, waitFor } from "./harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ redisUrl: inject("redisUrl") });
  await h.applyYaml(poolUsingRoute("first", inject("redisUrl")));
  await h.applyYaml(poolUsingRoute("second", inject("redisUrl")));
});

afterAll(async () => {
  await h?.stop();
});

const route = (name: string) => `
apiVersion: relayfleet.io/v1alpha1
kind: SenderRoute
metadata: { name: ${name}, namespace: mail }
spec:
  senders: [{ name: out1, host: out1.example.net }]
`;

async function reconciles(operator: Operator): Promise<number> {
  const metric = await operator.metrics.reconciles.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

describe("leader election", () => {
  it("lets only the leader act, and hands over when the leader stops", async () => {
    const a = await h.startOperator({ identity: "a" });
    await waitFor(() => a.isLeader);
    const b = await h.startOperator({ identity: "b" });
    await h.applyYaml(route("first"));
    await expect.poll(() => h.store.getRouteTable("mail/first"), { timeout: 3_000 }).toBeDefined();
    // b campaigns all along (retry 200 ms) but never wins while a renews.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(await reconciles(a)).toBeGreaterThan(0);
    expect(await reconciles(b)).toBe(0);
    const lease = await h.client.get<{ spec: { holderIdentity: string } }>(
      { apiVersion: "coordination.k8s.io/v1", plural: "leases", namespace: "default" },
      "relayfleet-operator",
    );
    expect(lease.spec.holderIdentity).toBe("a");

    await a.stop();
    await expect.poll(() => b.isLeader, { timeout: 3_000 }).toBe(true);
    await h.applyYaml(route("second"));
    await expect.poll(() => h.store.getRouteTable("mail/second"), { timeout: 3_000 }).toBeDefined();
    expect(await reconciles(b)).toBeGreaterThan(0);
  });

  it("takes over from a leader that vanished without releasing, once the lease has run out", async () => {
    const leases = { apiVersion: "coordination.k8s.io/v1", plural: "leases", namespace: "default" };
    await h.client.create(leases, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "crashed", namespace: "default" },
      spec: { holderIdentity: "gone", leaseDurationSeconds: 1, renewTime: "2020-01-01T00:00:00.000000Z" },
    });
    const started = Date.now();
    const c = await h.startOperator({ identity: "c", leaseName: "crashed" });
    await waitFor(() => c.isLeader, 5_000);
    // It waited a full lease duration by its own clock, whatever the stale renewTime said.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
  });
});
