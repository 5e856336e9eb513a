/** The copy pool's decisions (relay/copy/dispatch.ts): which worker, when a spare, how long. */
import { describe, expect, it } from "vitest";
import { chooseWorker, copyDeadlineMs, type WorkerView } from "../../relay/copy/dispatch.js";

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
