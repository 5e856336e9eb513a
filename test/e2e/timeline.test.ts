import { describe, expect, it } from "vitest";
import { ratePerSecond, type TimelineSample, timelineSvg } from "./timeline.js";

const sample = (t: number, accepted: number, extra: Partial<TimelineSample> = {}): TimelineSample => ({
  t,
  readyReplicas: 2,
  desiredReplicas: 2,
  aRecords: 2,
  scaling: "False",
  accepted,
  arrived: 0,
  ...extra,
});

describe("the end-to-end timeline", () => {
  it("turns cumulative counts into per-second rates, sample by sample", () => {
    const samples = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3.1].map((t, i) =>
      sample(t, t < 1 ? 0 : i * 10),
    );
    // Counts at the last sample at or before each whole second: 40 at 1 s, 80 at 2 s, 110 at 2.75 s (3.1 > 3).
    expect(ratePerSecond(samples, (s) => s.accepted)).toEqual([
      [1, 40],
      [2, 40],
      [3, 30],
    ]);
    expect(ratePerSecond([], (s) => s.accepted)).toEqual([]);
  });

  it("draws both charts over one axis, with the marked moments on each", () => {
    const samples = [sample(0, 0, { queued: 3 }), sample(1, 50, { readyReplicas: 3 }), sample(2, 90)];
    const svg = timelineSvg(samples, [{ t: 1.04, label: "ISP A blocks 127.0.0.2" }]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="760" height="760">')).toBe(true);
    expect(svg.match(/ISP A blocks 127\.0\.0\.2/g)).toHaveLength(2);
    expect(svg).toContain('<svg y="380"');
    expect(svg).toContain("ready replicas");
    expect(svg).toContain("queued (Prometheus)");
  });
});
