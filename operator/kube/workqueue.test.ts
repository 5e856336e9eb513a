import { describe, expect, it } from "vitest";
import { backoffDelay, WorkQueue } from "./workqueue.js";

describe("WorkQueue", () => {
  it("backs off exponentially up to a cap", () => {
    const options = { baseMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, options))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it("de-duplicates keys, never runs one key twice at once, and reruns a key added while it ran", async () => {
    const queue = new WorkQueue({ baseMs: 10, maxMs: 50 });
    const runs: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    queue.add("a");
    queue.add("a");
    queue.add("b");
    const done = queue.run(
      async (key) => {
        runs.push(key);
        if (key === "a") {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          if (runs.filter((k) => k === "a").length === 1) queue.add("a");
          await new Promise((r) => setTimeout(r, 20));
          inFlight -= 1;
        }
        return undefined;
      },
      4,
      () => {},
    );
    await new Promise((r) => setTimeout(r, 100));
    queue.stop();
    await done;
    expect(runs.sort()).toEqual(["a", "a", "b"]);
    expect(maxInFlight).toBe(1);
  });

  it("retries a failing key with backoff, and honours requeueAfterMs", async () => {
    const queue = new WorkQueue({ baseMs: 20, maxMs: 100 });
    const times: number[] = [];
    const errors: string[] = [];
    const start = Date.now();
    queue.add("k");
    const done = queue.run(
      async () => {
        times.push(Date.now() - start);
        if (times.length < 3) throw new Error("boom");
        if (times.length === 3) return { requeueAfterMs: 30 };
        return undefined;
      },
      1,
      (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    );
    await new Promise((r) => setTimeout(r, 250));
    queue.stop();
    await done;
    expect(errors).toEqual(["k: boom", "k: boom"]);
    expect(times).toHaveLength(4);
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThanOrEqual(35);
    expect((times[3] ?? 0) - (times[2] ?? 0)).toBeGreaterThanOrEqual(25);
  });
});
