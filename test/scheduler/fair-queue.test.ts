import { describe, expect, it } from "vitest";
import { FairQueue } from "../../relay/scheduler/fair-queue.js";
import { SlotLedger } from "../../relay/scheduler/slots.js";

const always = () => true;

function drain<T>(
  queue: FairQueue<T>,
  count: number,
  canRun: (account: string, item: T) => boolean = always,
) {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const next = queue.next(canRun);
    if (!next) break;
    out.push(next.account);
  }
  return out;
}

describe("FairQueue (deficit round robin)", () => {
  it("a small account behind a 50,000-item burst waits at most one item per turn", () => {
    const queue = new FairQueue<number>();
    for (let i = 0; i < 50_000; i++) queue.push("A", i);
    expect(drain(queue, 10).every((a) => a === "A")).toBe(true);
    queue.push("B", 1);
    queue.push("B", 2);
    const next = drain(queue, 4);
    expect(next.filter((a) => a === "B")).toHaveLength(2);
    expect(next.indexOf("B")).toBeLessThanOrEqual(1);
    expect(queue.size).toBe(50_000 - 10 - 2);
  });

  it("capacity freed one slot at a time goes to each account in turn, not to the one that had the turn", () => {
    const queue = new FairQueue<number>();
    for (let i = 0; i < 1000; i++) queue.push("A", i);
    let free = 0;
    const canRun = () => free > 0;
    const taken: string[] = [];
    const freeOne = () => {
      free++;
      // What the scheduler's pump does: dispatch until nothing may run.
      for (let next = queue.next(canRun); next; next = queue.next(canRun)) {
        free--;
        taken.push(next.account);
      }
    };
    for (let i = 0; i < 10; i++) freeOne();
    queue.push("B", 1);
    for (let i = 0; i < 4 && !taken.includes("B"); i++) freeOne();
    // B's item goes at the first or second slot freed after it came.
    expect(taken.slice(10, 12)).toContain("B");
  });

  it("shares by weight", () => {
    const queue = new FairQueue<number>();
    queue.setWeight("big", 3);
    for (let i = 0; i < 1000; i++) {
      queue.push("big", i);
      queue.push("small", i);
    }
    const first = drain(queue, 400);
    const big = first.filter((a) => a === "big").length;
    expect(big).toBe(300);
  });

  it("keeps order within an account, and `front` jumps the line", () => {
    const queue = new FairQueue<string>();
    queue.push("A", "a1");
    queue.push("A", "a2");
    queue.push("A", "a0", { front: true });
    const items: string[] = [];
    for (let next = queue.next(always); next; next = queue.next(always)) items.push(next.item);
    expect(items).toEqual(["a0", "a1", "a2"]);
  });

  it("looks past a head that may not run (a busy domain) without losing the account's turn", () => {
    const queue = new FairQueue<string>();
    queue.push("A", "busy.test");
    queue.push("A", "free.test");
    queue.push("B", "busy.test");
    const canRun = (_account: string, item: string) => item !== "busy.test";
    const next = queue.next(canRun);
    expect(next).toEqual({ account: "A", item: "free.test" });
    expect(queue.next(canRun)).toBeUndefined();
    expect(queue.size).toBe(2);
    // The domain frees up: both wait no longer.
    expect(drain(queue, 5).sort()).toEqual(["A", "B"]);
  });

  it("an account that comes and goes does not bank credit while idle", () => {
    const queue = new FairQueue<number>();
    for (let i = 0; i < 100; i++) queue.push("A", i);
    queue.push("B", 0);
    drain(queue, 20);
    for (let i = 0; i < 10; i++) queue.push("B", i);
    const next = drain(queue, 10);
    // Alternating, not ten B's in a row.
    expect(next.filter((a) => a === "B").length).toBeLessThanOrEqual(6);
  });
});

describe("SlotLedger", () => {
  it("reserves slots for dedicated accounts that shared accounts cannot take", () => {
    const ledger = new SlotLedger({ total: 10, dedicatedReserve: 4, minSharedShare: 0.5, perDomain: 100 });
    ledger.setDedicated(["vip"]);
    expect(ledger.sharedCapacity).toBe(6);
    for (let i = 0; i < 6; i++) ledger.acquire("crowd", `d${i}.test`, "s");
    expect(ledger.laneFree("crowd")).toBe(false);
    expect(ledger.laneFree("vip")).toBe(true);
    const vip = Array.from({ length: 4 }, () => ledger.acquire("vip", "v.test", "s"));
    expect(vip.every((slot) => slot.pool === "reserved")).toBe(true);
    expect(ledger.laneFree("vip")).toBe(false);
    ledger.release(vip[0] as (typeof vip)[number]);
    expect(ledger.laneFree("vip")).toBe(true);
    expect(ledger.active).toBe(9);
  });

  it("a dedicated account also uses shared slots beyond its reserve", () => {
    const ledger = new SlotLedger({ total: 10, dedicatedReserve: 2, minSharedShare: 0.5, perDomain: 100 });
    ledger.setDedicated(["vip"]);
    const slots = Array.from({ length: 5 }, () => ledger.acquire("vip", "v.test", "s"));
    expect(slots.map((s) => s.pool)).toEqual(["reserved", "reserved", "shared", "shared", "shared"]);
  });

  it("caps per domain and per sender", () => {
    const ledger = new SlotLedger({ total: 100, dedicatedReserve: 0, minSharedShare: 0.5, perDomain: 2 });
    ledger.acquire("a", "gmail.test", "t/out1");
    const second = ledger.acquire("b", "gmail.test", "t/out1");
    expect(ledger.domainFree("gmail.test")).toBe(false);
    expect(ledger.domainFree("yahoo.test")).toBe(true);
    expect(ledger.senderFree("t/out1", 2)).toBe(false);
    expect(ledger.senderFree("t/out1", 3)).toBe(true);
    ledger.release(second);
    expect(ledger.domainFree("gmail.test")).toBe(true);
  });
});
