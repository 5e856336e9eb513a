import { describe, expect, it } from "vitest";
import { type RouteTableInput, routeTableSchema } from "../../relay/routes/schema.js";
import {
  chooseSender,
  domainMatches,
  pickWeighted,
  recipientDomain,
  sendersForDomain,
} from "../../relay/routes/selection.js";

const table = (input: Partial<RouteTableInput> = {}) =>
  routeTableSchema.parse({
    policy: "random",
    senders: [
      { name: "out1", host: "127.0.0.1", localAddress: "127.0.0.2" },
      { name: "out2", host: "127.0.0.1", localAddress: "127.0.0.3" },
      { name: "out3", host: "127.0.0.1", localAddress: "127.0.0.4" },
      { name: "out4", host: "127.0.0.1", localAddress: "127.0.0.5" },
    ],
    ...input,
  });

/** A deterministic sequence in [0, 1). */
function sequence(): () => number {
  let i = 0;
  return () => ((i++ * 7919) % 1000) / 1000;
}

const never = () => false;

function distribution(runs: number, pick: () => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < runs; i++) {
    const name = pick();
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

describe("addresses and domains", () => {
  it("routes on the domain after the last @ only", () => {
    expect(recipientDomain("user%evil.test@Relay.TEST")).toBe("relay.test");
    expect(recipientDomain('"a@evil x"@allowed.example')).toBe("allowed.example");
  });

  it("matches exact names, and subdomains only when asked", () => {
    expect(domainMatches("hotmail.com", "hotmail.com")).toBe(true);
    expect(domainMatches("hotmail.com", "eu.hotmail.com")).toBe(false);
    expect(domainMatches(".hotmail.com", "eu.hotmail.com")).toBe(true);
    expect(domainMatches("*.hotmail.com", "hotmail.com")).toBe(true);
    expect(domainMatches("*.hotmail.com", "nothotmail.com")).toBe(false);
  });
});

describe("chooseSender", () => {
  it("failover takes the first usable sender, waits when it is busy, and skips it when blocked", () => {
    const t = table({ policy: "failover" });
    expect(chooseSender({ table: t, domain: "a.test", isBlocked: never })).toMatchObject({
      sender: { name: "out1" },
    });
    expect(
      chooseSender({ table: t, domain: "a.test", isBlocked: never, hasCapacity: (s) => s.name !== "out1" }),
    ).toEqual({ kind: "busy" });
    expect(
      chooseSender({ table: t, domain: "a.test", isBlocked: (s, d) => s === "out1" && d === "a.test" }),
    ).toMatchObject({ sender: { name: "out2" } });
    expect(
      chooseSender({ table: t, domain: "a.test", isBlocked: never, exclude: new Set(["out1", "out2"]) }),
    ).toMatchObject({
      sender: { name: "out3" },
    });
  });

  it("random spreads evenly over the pool", () => {
    const random = sequence();
    const counts = distribution(4000, () => {
      const choice = chooseSender({ table: table(), domain: "a.test", isBlocked: never, random });
      return choice.kind === "sender" ? choice.sender.name : choice.kind;
    });
    for (const name of ["out1", "out2", "out3", "out4"]) expect(counts[name]).toBeGreaterThan(900);
  });

  it("weighted follows the weights; weight 0 drains a sender unless nothing else is left", () => {
    const t = table({
      policy: "weighted",
      senders: [
        { name: "heavy", host: "h", weight: 3 },
        { name: "light", host: "h", weight: 1 },
        { name: "drained", host: "h", weight: 0 },
      ],
    });
    const random = sequence();
    const counts = distribution(4000, () => {
      const choice = chooseSender({ table: t, domain: "a.test", isBlocked: never, random });
      return choice.kind === "sender" ? choice.sender.name : choice.kind;
    });
    expect(counts.heavy).toBeGreaterThan(2800);
    expect(counts.heavy).toBeLessThan(3200);
    expect(counts.drained).toBeUndefined();
    const onlyDrained = chooseSender({ table: t, domain: "a.test", isBlocked: (s) => s !== "drained" });
    expect(onlyDrained).toMatchObject({ sender: { name: "drained" } });
    expect(pickWeighted(t.senders, 0.999).name).toBe("light");
  });

  it("composes random policy, a domain route and a block (the 2009 bug)", () => {
    const t = table({ domains: [{ match: ["hotmail.com", "outlook.com"], senders: ["out3", "out4"] }] });
    const isBlocked = (sender: string, domain: string) => sender === "out3" && domain === "hotmail.com";
    const random = sequence();
    const toHotmail = distribution(500, () => {
      const choice = chooseSender({ table: t, domain: "hotmail.com", isBlocked, random });
      return choice.kind === "sender" ? choice.sender.name : choice.kind;
    });
    expect(toHotmail).toEqual({ out4: 500 });
    // The block is per domain: outlook.com still uses both domain-route senders, and only them.
    const toOutlook = distribution(500, () => {
      const choice = chooseSender({ table: t, domain: "outlook.com", isBlocked, random });
      return choice.kind === "sender" ? choice.sender.name : choice.kind;
    });
    expect(Object.keys(toOutlook).sort()).toEqual(["out3", "out4"]);
    // Other domains use the whole pool.
    const elsewhere = distribution(500, () => {
      const choice = chooseSender({ table: t, domain: "example.org", isBlocked, random });
      return choice.kind === "sender" ? choice.sender.name : choice.kind;
    });
    expect(Object.keys(elsewhere).sort()).toEqual(["out1", "out2", "out3", "out4"]);
  });

  it("never falls back to the pool when every domain-route sender is blocked", () => {
    const t = table({ domains: [{ match: ["hotmail.com"], senders: ["out3"] }] });
    const choice = chooseSender({ table: t, domain: "hotmail.com", isBlocked: (s) => s === "out3" });
    expect(choice).toEqual({
      kind: "none",
      reason: "every sender of the domain route is blocked for hotmail.com",
    });
    expect(sendersForDomain(t, "hotmail.com").map((s) => s.name)).toEqual(["out3"]);
  });

  it("random and weighted wait for the sender drawn when it is busy, and keep that draw", () => {
    const t = table();
    const notOut2 = (s: { name: string }) => s.name !== "out2";
    expect(
      chooseSender({ table: t, domain: "a.test", isBlocked: never, hasCapacity: notOut2, random: () => 0.3 }),
    ).toEqual({
      kind: "busy",
      drawn: "out2",
    });
    // The next look keeps the draw (a fresh random would say out4) until out2 frees up or is blocked.
    const again = { table: t, domain: "a.test", drawn: "out2", random: () => 0.9 };
    expect(chooseSender({ ...again, isBlocked: never, hasCapacity: notOut2 })).toEqual({
      kind: "busy",
      drawn: "out2",
    });
    expect(chooseSender({ ...again, isBlocked: never })).toMatchObject({
      kind: "sender",
      sender: { name: "out2" },
    });
    expect(chooseSender({ ...again, isBlocked: (s) => s === "out2" })).toMatchObject({
      sender: { name: "out4" },
    });
  });
});
