/** The copy pool's decisions (relay/copy/dispatch.ts): which worker, when a spare, how long. */
import { describe, expect, it } from "vitest";
import { chooseWorker, copyDeadlineMs, TurnQueue, type WorkerView } from "../../relay/copy/dispatch.js";

function drain<T>(queue: TurnQueue<T>): T[] {
  const taken: T[] = [];
  while (queue.length > 0) {
    const next = queue.peek();
    expect(queue.shift()).toBe(next);
    taken.push(next as T);
  }
  return taken;
}

describe("which copy goes next", () => {
  it("one per account in turn, first come first served within an account", () => {
    const queue = new TurnQueue<string>();
    for (let i = 1; i <= 5; i++) queue.push("a", `a${i}`);
    queue.push("b", "b1");
    queue.push("c", "c1");
    queue.push("b", "b2");
    expect(queue.length).toBe(8);
    expect(drain(queue)).toEqual(["a1", "b1", "c1", "a2", "b2", "a3", "a4", "a5"]);
    expect(queue.shift()).toBeUndefined();
    expect(queue.peek()).toBeUndefined();
  });

  it("an account that arrives during another's burst waits for at most one copy of each", () => {
    const queue = new TurnQueue<string>();
    for (let i = 1; i <= 100; i++) queue.push("a", `a${i}`);
    expect(queue.shift()).toBe("a1");
    expect(queue.shift()).toBe("a2");
    queue.push("b", "b1");
    const order = drain(queue);
    expect(order.indexOf("b1")).toBeLessThanOrEqual(1);
    expect(order).toHaveLength(99);
  });

  it("takes out what is removed, and keeps the turns of the rest", () => {
    const queue = new TurnQueue<string>();
    for (const item of ["a1", "a2", "a3"]) queue.push("a", item);
    for (const item of ["b1", "b2"]) queue.push("b", item);
    queue.push("c", "c1");
    expect(queue.shift()).toBe("a1");
    // b's turn now; b leaves altogether.
    expect(queue.remove((item) => item.startsWith("b"))).toEqual(["b1", "b2"]);
    expect(queue.length).toBe(3);
    expect(drain(queue)).toEqual(["c1", "a2", "a3"]);
    queue.push("a", "a4");
    queue.push("c", "c2");
    expect(queue.remove(() => true)).toEqual(["a4", "c2"]);
    expect(queue.length).toBe(0);
    expect(queue.peek()).toBeUndefined();
  });

  it("removing an account ahead of the turn keeps the turn on the same account", () => {
    const queue = new TurnQueue<string>();
    for (const item of ["a1", "a2"]) queue.push("a", item);
    for (const item of ["b1", "b2"]) queue.push("b", item);
    for (const item of ["c1", "c2"]) queue.push("c", item);
    expect(queue.shift()).toBe("a1");
    expect(queue.shift()).toBe("b1");
    // c's turn; a, ahead of it, leaves.
    expect(queue.remove((item) => item.startsWith("a"))).toEqual(["a2"]);
    expect(drain(queue)).toEqual(["c1", "b2", "c2"]);
  });
});

const limits = { size: 2, spares: 2, spareAfterMs: 1000 };
const idle = (lastMessage?: string): WorkerView => ({ busySince: undefined, lastMessage });
const busy = (since: number, lastMessage?: string): WorkerView => ({ busySince: since, lastMessage });

describe("which worker makes the next copy", () => {
  it("an idle worker that made the message's last copy, else the first idle one", () => {
    expect(chooseWorker([idle("a"), idle("m"), idle()], "m", limits, 0)).toEqual({
      kind: "worker",
      index: 1,
    });
    expect(chooseWorker([busy(0, "m"), idle("a"), idle()], "m", limits, 10)).toEqual({
      kind: "worker",
      index: 1,
    });
  });

  it("a new worker while fewer than the pool's size run", () => {
    expect(chooseWorker([], "m", limits, 0)).toEqual({ kind: "start", spare: false });
    expect(chooseWorker([busy(0)], "m", limits, 10)).toEqual({ kind: "start", spare: false });
  });

  it("waits while the busy workers are not stuck, and says when one would be", () => {
    expect(chooseWorker([busy(100), busy(300)], "m", limits, 500)).toEqual({ kind: "wait", recheckAt: 1100 });
  });

  it("one spare per stuck worker, up to `spares`, then waits for good", () => {
    expect(chooseWorker([busy(0), busy(900)], "m", limits, 1000)).toEqual({ kind: "start", spare: true });
    // One stuck and one spare running: size healthy workers again, so wait (for the other's threshold).
    expect(chooseWorker([busy(0), busy(900), busy(950)], "m", limits, 1000)).toEqual({
      kind: "wait",
      recheckAt: 1900,
    });
    expect(chooseWorker([busy(0), busy(0), busy(950)], "m", limits, 1000)).toEqual({
      kind: "start",
      spare: true,
    });
    expect(chooseWorker([busy(0), busy(0), busy(0), busy(0)], "m", limits, 5000)).toEqual({ kind: "wait" });
    expect(chooseWorker([busy(0)], "m", { size: 1, spares: 0, spareAfterMs: 10 }, 5000)).toEqual({
      kind: "wait",
    });
  });
});

describe("a copy's deadline", () => {
  it("is the base seconds plus an allowance per MiB of the message", () => {
    expect(copyDeadlineMs(0, { seconds: 30, secondsPerMiB: 0.5 })).toBe(30_000);
    expect(copyDeadlineMs(100 * 1024 * 1024, { seconds: 30, secondsPerMiB: 0.5 })).toBe(80_000);
    expect(copyDeadlineMs(512 * 1024, { seconds: 2, secondsPerMiB: 1 })).toBe(2500);
    expect(copyDeadlineMs(10 * 1024 * 1024, { seconds: 0.3, secondsPerMiB: 0 })).toBe(300);
  });
});
