import { describe, expect, it } from "vitest";
import type { BlockedPair } from "../../relay/vocabulary.js";
import type { SenderRouteSpec } from "../api/senderroute.js";
import { blockedStatus, pairsForRoute, pairsToRelease, publishedRouteTable, releaseAt } from "./routes.js";

const sender = (name: string, extra: Partial<SenderRouteSpec["senders"][number]> = {}) => ({
  name,
  host: `${name}.example.net`,
  port: 25,
  mx: false,
  tls: "starttls" as const,
  requireTls: false,
  verifyCertificates: true,
  weight: 1,
  maxConnections: 20,
  ...extra,
});

const spec: SenderRouteSpec = {
  policy: "random",
  senders: [sender("out1"), sender("out2"), sender("out3")],
  domains: [{ match: ["hotmail.com", "live.com"], senders: ["out2", "out3"] }],
  blocking: { holdSeconds: 100, patterns: [] },
};

const pair = (sender: string, domain: string, since = 0, until = 1_000_000): BlockedPair => ({
  sender,
  domain,
  since,
  until,
  reason: "550 blocked",
});

describe("publishedRouteTable", () => {
  it("publishes the spec unchanged when nothing is blocked", () => {
    const { table, stranded } = publishedRouteTable(spec, []);
    expect(table.domains).toEqual(spec.domains);
    expect(table.senders.map((s) => s.name)).toEqual(["out1", "out2", "out3"]);
    expect(stranded).toEqual([]);
  });

  it("routes a blocked domain to its domain route's other senders, never to the rest of the pool", () => {
    const { table } = publishedRouteTable(spec, [pair("out2", "hotmail.com")]);
    expect(table.domains[0]).toEqual({ match: ["hotmail.com"], senders: ["out3"] });
  });

  it("routes a blocked domain without a domain route to the rest of the pool", () => {
    const { table } = publishedRouteTable(spec, [pair("out1", "gmail.com"), pair("out3", "gmail.com")]);
    expect(table.domains[0]).toEqual({ match: ["gmail.com"], senders: ["out2"] });
  });

  it("ignores blocks of senders the domain does not use, and reports domains with nothing left", () => {
    expect(publishedRouteTable(spec, [pair("out1", "live.com")]).table.domains).toEqual(spec.domains);
    const stranded = publishedRouteTable(spec, [pair("out2", "live.com"), pair("out3", "live.com")]);
    expect(stranded.stranded).toEqual(["live.com"]);
    expect(stranded.table.domains).toEqual(spec.domains);
  });
});

describe("blocked pairs of a route", () => {
  it("holds a pair for the route's holdSeconds, or the reporter's shorter hold", () => {
    expect(releaseAt(spec, pair("out1", "a.com", 1000, 10_000_000))).toBe(101_000);
    expect(releaseAt(spec, pair("out1", "a.com", 1000, 50_000))).toBe(50_000);
  });

  it("keeps its own senders' pairs still held, releases the rest", () => {
    const pairs = [
      pair("out2", "b.com", 0),
      pair("out1", "a.com", 0),
      pair("other", "a.com", 0),
      pair("out3", "c.com", -200_000),
    ];
    expect(pairsForRoute(spec, pairs, 50_000).map((p) => `${p.sender}/${p.domain}`)).toEqual([
      "out1/a.com",
      "out2/b.com",
    ]);
    expect(pairsToRelease(spec, pairs, 50_000).map((p) => p.sender)).toEqual(["out3"]);
    expect(blockedStatus(spec, [pair("out1", "a.com", 0)])).toEqual([
      {
        sender: "out1",
        domain: "a.com",
        since: "1970-01-01T00:00:00.000Z",
        until: "1970-01-01T00:01:40.000Z",
        reason: "550 blocked",
      },
    ]);
  });
});
