import { describe, expect, it } from "vitest";
import { testPool } from "../../../test/operator/pool.js";
import type { RelayPoolStatus } from "../../api/relaypool.js";
import { type Observed, poolStatus, scalingCondition } from "./status.js";

const pool = (status?: RelayPoolStatus) => testPool({}, { generation: 3 }, status);

const seen = (overrides: Partial<Observed>): Observed => ({
  replicas: 2,
  readyReplicas: 2,
  desiredReplicas: 2,
  appliedReplicas: 2,
  endpoints: ["10.0.0.1", "10.0.0.2"],
  leaving: 0,
  draining: [],
  problems: [],
  tls: { state: "ready" },
  ...overrides,
});

/** Runs reconcile rounds through poolStatus, each round seeing the status the one before wrote. */
function rounds(steps: Partial<Observed>[]): { status: string; reason: string }[] {
  let current = pool();
  const out: { status: string; reason: string }[] = [];
  steps.forEach((step, i) => {
    const status = poolStatus(current, seen(step), new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
    const scaling = status.conditions?.find((c) => c.type === "Scaling");
    out.push({ status: String(scaling?.status), reason: String(scaling?.reason) });
    current = pool(status);
  });
  return out;
}

describe("the Scaling condition", () => {
  it("holds True through a scale-up until the new relays are ready, then settles", () => {
    expect(
      rounds([
        {},
        // The workload already says 3 replicas (its controller was quick) but the new relay is starting.
        { desiredReplicas: 3, appliedReplicas: 3, replicas: 3, readyReplicas: 2 },
        { desiredReplicas: 3, appliedReplicas: 3, replicas: 3, readyReplicas: 2 },
        { desiredReplicas: 3, appliedReplicas: 3, replicas: 3, readyReplicas: 3 },
      ]),
    ).toEqual([
      { status: "False", reason: "FixedReplicas" },
      { status: "True", reason: "ScalingUp" },
      { status: "True", reason: "ScalingUp" },
      { status: "False", reason: "FixedReplicas" },
    ]);
  });

  it("holds True through a scale-down: draining, then until the removed relay has exited", () => {
    expect(
      rounds([
        { desiredReplicas: 3, replicas: 3, readyReplicas: 3 },
        { desiredReplicas: 2, appliedReplicas: 3, replicas: 3, readyReplicas: 3, draining: ["p-2"] },
        // Drained: the workload is lowered this round, but the pods were listed before that.
        { desiredReplicas: 2, replicas: 2, readyReplicas: 3 },
        { desiredReplicas: 2, replicas: 2, readyReplicas: 2, leaving: 1 },
        { desiredReplicas: 2, replicas: 2, readyReplicas: 2 },
      ]),
    ).toEqual([
      { status: "False", reason: "FixedReplicas" },
      { status: "True", reason: "Draining" },
      { status: "True", reason: "ScalingDown" },
      { status: "True", reason: "ScalingDown" },
      { status: "False", reason: "FixedReplicas" },
    ]);
  });

  it("is not Scaling when a relay of an unchanged pool stops being ready (that is Ready=False)", () => {
    const settled = poolStatus(pool(), seen({}), new Date());
    const after = seen({ readyReplicas: 1 });
    expect(scalingCondition(pool(settled), after).status).toBe("False");
    const status = poolStatus(pool(settled), after, new Date());
    expect(status.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "RelaysNotReady",
    });
  });

  it("says how far a scale-up has got", () => {
    const before = poolStatus(pool(), seen({}), new Date());
    expect(
      scalingCondition(pool(before), seen({ desiredReplicas: 4, replicas: 4, readyReplicas: 3 })),
    ).toEqual({
      type: "Scaling",
      status: "True",
      reason: "ScalingUp",
      message: "3 of 4 relays ready",
    });
  });
});

describe("the Degraded condition", () => {
  const degraded = (overrides: Partial<Observed>) =>
    poolStatus(pool(), seen(overrides), new Date()).conditions?.find((c) => c.type === "Degraded");

  it("says a pool without TLS offers no AUTH", () => {
    expect(degraded({ tls: { state: "absent" } })).toMatchObject({ status: "True", reason: "NoTLS" });
    expect(degraded({ tls: { state: "absent" } })?.message).toContain("no AUTH");
    expect(degraded({})).toMatchObject({ status: "False", reason: "AsExpected" });
  });

  it("names an unusable TLS Secret, alone or among other problems", () => {
    const message = "TLS secret smtp-cert has no tls.key";
    expect(degraded({ tls: { state: "unusable", message } })).toMatchObject({
      status: "True",
      reason: "TLSSecretUnusable",
      message,
    });
    expect(degraded({ tls: { state: "unusable", message }, problems: ["no DNS CRD"] })).toMatchObject({
      reason: "ReconcileProblems",
      message: `no DNS CRD; ${message}`,
    });
  });
});
