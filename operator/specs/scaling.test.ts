import { describe, expect, it } from "vitest";
import type { Autoscaling } from "../api/relaypool.js";
import { decideReplicas, type Recommendation } from "./scaling.js";

const autoscaling: Autoscaling = {
  minReplicas: 2,
  maxReplicas: 8,
  metric: "queue",
  target: 100,
  tolerance: 0.1,
  scaleUpStabilizationSeconds: 0,
  scaleDownStabilizationSeconds: 300,
  intervalSeconds: 15,
};

const decide = (
  current: number,
  total: number | undefined,
  history: Recommendation[] = [],
  now = 1_000_000,
) => decideReplicas({ autoscaling, currentReplicas: current, metricTotal: total, now, history });

describe("decideReplicas (the HPA algorithm)", () => {
  it("keeps the size within the tolerance", () => {
    expect(decide(4, 430)).toMatchObject({ desired: 4, reason: "WithinTolerance" });
    expect(decide(4, 360)).toMatchObject({ desired: 4 });
  });

  it("scales up at once to ceil(total / target), clamped to maxReplicas", () => {
    expect(decide(4, 650)).toMatchObject({ desired: 7, reason: "ScaleUp" });
    expect(decide(4, 5000)).toMatchObject({ desired: 8, recommendation: 8 });
  });

  it("scales down only to the highest recommendation of the window", () => {
    const now = 1_000_000;
    const history = [
      { at: now - 200_000, replicas: 6 },
      { at: now - 100_000, replicas: 5 },
    ];
    expect(decide(6, 100, history, now)).toMatchObject({
      desired: 6,
      recommendation: 2,
      reason: "StabilizingDown",
    });
    const older = [{ at: now - 400_000, replicas: 6 }, ...history.slice(1)];
    expect(decide(6, 100, older, now)).toMatchObject({ desired: 5, reason: "ScaleDown" });
    expect(decide(6, 100, [], now)).toMatchObject({ desired: 2 });
  });

  it("honours a scale-up window: the lowest recommendation in it wins", () => {
    const slowUp = { ...autoscaling, scaleUpStabilizationSeconds: 60 };
    const now = 1_000_000;
    const history = [{ at: now - 30_000, replicas: 3 }];
    const decision = decideReplicas({
      autoscaling: slowUp,
      currentReplicas: 2,
      metricTotal: 800,
      now,
      history,
    });
    expect(decision).toMatchObject({ desired: 3, recommendation: 8 });
  });

  it("clamps to minReplicas and holds the size when the metric is missing", () => {
    expect(decide(1, 0)).toMatchObject({ desired: 2, reason: "ClampedToMin" });
    expect(decide(5, undefined)).toMatchObject({ desired: 5, reason: "MetricsUnavailable" });
    expect(decide(12, undefined)).toMatchObject({ desired: 8 });
  });

  it("drops history older than both windows", () => {
    const now = 10_000_000;
    const decision = decide(4, 400, [{ at: now - 301_000, replicas: 8 }], now);
    expect(decision.history).toEqual([{ at: now, replicas: 4 }]);
  });
});
