/**
 * SenderRoute → the route table relays read, and the blocked pairs it is
 * routing around. Pure.
 *
 * A blocked (sender, domain) pair becomes a failover route: a domain route
 * for exactly that domain, put first, naming the senders that may carry the
 * domain's mail (by the table's own rules) minus the blocked ones. Relays
 * already skip blocked pairs on their own; the published route makes the
 * failover fleet-wide, visible in the table, and keeps a domain route from
 * ever falling back to the rest of the pool. When every allowed sender is
 * blocked no failover exists: the pair stays blocked and mail waits.
 */

import { type RouteTable, routeTableSchema } from "../../relay/routes/schema.js";
import { sendersForDomain } from "../../relay/routes/selection.js";
import type { BlockedPair } from "../../relay/vocabulary.js";
import type { BlockedEntry, SenderRouteSpec } from "../api/senderroute.js";

/** SMTP AUTH credentials read from each sender's authSecretRef, by sender name. */
export type SenderCredentials = ReadonlyMap<string, { user: string; pass: string }>;

/** The table exactly as the spec says, before any block. */
export function baseRouteTable(
  spec: SenderRouteSpec,
  credentials: SenderCredentials = new Map(),
): RouteTable {
  return routeTableSchema.parse({
    policy: spec.policy,
    senders: spec.senders.map((s) => ({
      name: s.name,
      ...(credentials.has(s.name) ? { auth: credentials.get(s.name) } : {}),
      ...(s.host !== undefined ? { host: s.host } : {}),
      port: s.port,
      mx: s.mx,
      ...(s.localAddress !== undefined ? { localAddress: s.localAddress } : {}),
      tls: s.tls,
      requireTls: s.requireTls,
      verifyCertificates: s.verifyCertificates,
      weight: s.weight,
      maxConnections: s.maxConnections,
    })),
    domains: spec.domains,
    blocking: spec.blocking,
  });
}

/** When this route releases a pair: its own holdSeconds from the report, or the reporter's earlier end. */
export function releaseAt(spec: SenderRouteSpec, pair: BlockedPair): number {
  return Math.min(pair.until, pair.since + spec.blocking.holdSeconds * 1000);
}

/** The Store's pairs that concern this route (one of its senders) and are still held at `now`. */
export function pairsForRoute(
  spec: SenderRouteSpec,
  pairs: readonly BlockedPair[],
  now: number,
): BlockedPair[] {
  const senders = new Set(spec.senders.map((s) => s.name));
  return pairs
    .filter((pair) => senders.has(pair.sender) && releaseAt(spec, pair) > now)
    .sort((a, b) => a.sender.localeCompare(b.sender) || a.domain.localeCompare(b.domain));
}

/** Pairs this route should clear from the Store: its senders' blocks whose hold is over. */
export function pairsToRelease(
  spec: SenderRouteSpec,
  pairs: readonly BlockedPair[],
  now: number,
): BlockedPair[] {
  const senders = new Set(spec.senders.map((s) => s.name));
  return pairs.filter((pair) => senders.has(pair.sender) && releaseAt(spec, pair) <= now);
}

export interface PublishedRoute {
  table: RouteTable;
  /** Domains where every allowed sender is blocked: nothing to fail over to. */
  stranded: string[];
}

export function publishedRouteTable(
  spec: SenderRouteSpec,
  blocked: readonly BlockedPair[],
  credentials: SenderCredentials = new Map(),
): PublishedRoute {
  const base = baseRouteTable(spec, credentials);
  const byDomain = new Map<string, Set<string>>();
  for (const pair of blocked) {
    const set = byDomain.get(pair.domain) ?? new Set<string>();
    set.add(pair.sender);
    byDomain.set(pair.domain, set);
  }
  const failovers: RouteTable["domains"] = [];
  const stranded: string[] = [];
  for (const [domain, senders] of [...byDomain].sort(([a], [b]) => a.localeCompare(b))) {
    const allowed = sendersForDomain(base, domain);
    if (!allowed.some((s) => senders.has(s.name))) continue;
    const remaining = allowed.filter((s) => !senders.has(s.name)).map((s) => s.name);
    if (remaining.length === 0) stranded.push(domain);
    else failovers.push({ match: [domain], senders: remaining });
  }
  return { table: { ...base, domains: [...failovers, ...base.domains] }, stranded };
}

export function blockedStatus(spec: SenderRouteSpec, pairs: readonly BlockedPair[]): BlockedEntry[] {
  return pairs.map((pair) => ({
    sender: pair.sender,
    domain: pair.domain,
    since: new Date(pair.since).toISOString(),
    until: new Date(releaseAt(spec, pair)).toISOString(),
    reason: pair.reason.slice(0, 1024),
    ...(pair.reportedBy ? { reportedBy: pair.reportedBy } : {}),
  }));
}

/** When the next pair of this route must be released (to requeue then), or undefined. */
export function nextRelease(spec: SenderRouteSpec, pairs: readonly BlockedPair[]): number | undefined {
  const times = pairs.map((pair) => releaseAt(spec, pair));
  return times.length > 0 ? Math.min(...times) : undefined;
}
