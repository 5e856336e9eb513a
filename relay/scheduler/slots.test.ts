/** Delivery slots' split into lanes (laneCapacity) and the ledger that keeps to it. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { relayConfigSchema } from "../config/schema.js";
import { DEFAULT_SLOT_LIMITS, laneCapacity, SlotLedger, slotLimitsOf } from "./slots.js";

describe("slotLimitsOf", () => {
  it("config `scheduler`'s defaults are the scheduler's own", () => {
    expect(slotLimitsOf(relayConfigSchema.parse({}).scheduler)).toEqual(DEFAULT_SLOT_LIMITS);
  });

  it("takes every key of config `scheduler`", () => {
    const scheduler = { maxDeliveries: 50, dedicatedReserve: 4, minSharedShare: 0.75, maxPerDomain: 5 };
    expect(slotLimitsOf(relayConfigSchema.parse({ scheduler }).scheduler)).toEqual({
      total: 50,
      dedicatedReserve: 4,
      minSharedShare: 0.75,
      perDomain: 5,
    });
  });
});

describe("laneCapacity", () => {
  it("gives every dedicated account its whole reserve while the shared lane keeps its floor", () => {
    expect(laneCapacity(200, 0, 32, 0.5)).toEqual({ reservePerAccount: 32, shared: 200 });
    expect(laneCapacity(200, 1, 32, 0.5)).toEqual({ reservePerAccount: 32, shared: 168 });
    expect(laneCapacity(200, 3, 32, 0.5)).toEqual({ reservePerAccount: 32, shared: 104 });
  });

  it("shrinks every reserve alike once they would leave the shared lane less than its floor", () => {
    // Four reserves of 32 would leave 72; the shared lane keeps 100 and each reserve gets 25.
    expect(laneCapacity(200, 4, 32, 0.5)).toEqual({ reservePerAccount: 25, shared: 100 });
    // Seven dedicated accounts once left every other account one slot in all.
    expect(laneCapacity(200, 7, 32, 0.5)).toEqual({ reservePerAccount: 14, shared: 102 });
  });

  it("leaves a reserve of nothing when there are more dedicated accounts than slots to reserve", () => {
    expect(laneCapacity(4, 3, 2, 0.5)).toEqual({ reservePerAccount: 0, shared: 4 });
    expect(laneCapacity(1, 1, 32, 0.5)).toEqual({ reservePerAccount: 0, shared: 1 });
  });

  it("keeps at least one shared slot, even with a floor of nothing", () => {
    expect(laneCapacity(10, 2, 5, 0)).toEqual({ reservePerAccount: 4, shared: 2 });
    expect(laneCapacity(10, 1, 32, 0)).toEqual({ reservePerAccount: 9, shared: 1 });
  });

  it("a floor of the whole total reserves nothing", () => {
    expect(laneCapacity(200, 2, 32, 1)).toEqual({ reservePerAccount: 0, shared: 200 });
  });

  it("never hands out more than the total, never more than the reserve asked, and keeps the floor", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (total, dedicated, reserve, share) => {
          const split = laneCapacity(total, dedicated, reserve, share);
          expect(split.reservePerAccount).toBeGreaterThanOrEqual(0);
          expect(split.reservePerAccount).toBeLessThanOrEqual(reserve);
          expect(split.shared).toBeGreaterThanOrEqual(1);
          if (dedicated === 0) expect(split.shared).toBe(total);
          else {
            expect(split.shared + split.reservePerAccount * dedicated).toBe(total);
            expect(split.shared).toBeGreaterThanOrEqual(Math.min(total, Math.ceil(total * share)));
          }
        },
      ),
    );
  });

  it("one more dedicated account never grows a reserve, and the shared lane keeps its floor", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (total, dedicated, reserve, share) => {
          const before = laneCapacity(total, dedicated, reserve, share);
          const after = laneCapacity(total, dedicated + 1, reserve, share);
          expect(after.reservePerAccount).toBeLessThanOrEqual(before.reservePerAccount);
          expect(after.shared).toBeGreaterThanOrEqual(Math.max(1, Math.ceil(total * share)));
        },
      ),
    );
  });
});

describe("SlotLedger", () => {
  it("lets a dedicated account use its reserve, then the shared lane; others only the shared lane", () => {
    const ledger = new SlotLedger({ ...DEFAULT_SLOT_LIMITS, total: 6, dedicatedReserve: 2 });
    ledger.setDedicated(["vip"]);
    expect(ledger.reservePerAccount).toBe(2);
    expect(ledger.sharedCapacity).toBe(4);
    const bulk = Array.from({ length: 4 }, () => ledger.acquire("bulk", undefined, "s"));
    expect(bulk.every((slot) => slot.pool === "shared")).toBe(true);
    expect(ledger.laneFree("bulk")).toBe(false);
    expect(ledger.laneFree("vip")).toBe(true);
    const vip = [ledger.acquire("vip", undefined, "s"), ledger.acquire("vip", undefined, "s")];
    expect(vip.map((slot) => slot.pool)).toEqual(["reserved", "reserved"]);
    expect(ledger.laneFree("vip")).toBe(false);
    ledger.release(bulk[0] as (typeof bulk)[number]);
    expect(ledger.laneFree("bulk")).toBe(true);
    expect(ledger.acquire("vip", undefined, "s").pool).toBe("shared");
    expect(ledger.active).toBe(6);
  });

  it("shrinks the reserves as dedicated accounts are added, keeping the shared lane's floor", () => {
    const ledger = new SlotLedger(DEFAULT_SLOT_LIMITS);
    ledger.setDedicated(["a", "b", "c", "d", "e", "f", "g"]);
    expect(ledger.reservePerAccount).toBe(14);
    expect(ledger.sharedCapacity).toBe(102);
    ledger.setDedicated([]);
    expect(ledger.sharedCapacity).toBe(200);
  });

  it("keeps slots taken under an older split until they are released", () => {
    const ledger = new SlotLedger({ ...DEFAULT_SLOT_LIMITS, total: 4, dedicatedReserve: 2 });
    ledger.setDedicated(["vip"]);
    const reserved = [ledger.acquire("vip", undefined, "s"), ledger.acquire("vip", undefined, "s")];
    ledger.setDedicated(["vip", "other"]);
    // 4 slots, floor 2: one each now; vip holds two reserved, so it waits for the shared lane.
    expect(ledger.reservePerAccount).toBe(1);
    expect(ledger.laneFree("other")).toBe(true);
    ledger.release(reserved[0] as (typeof reserved)[number]);
    expect(ledger.acquire("vip", undefined, "s").pool).toBe("shared");
  });
});
