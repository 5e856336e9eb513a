/**
 * Route selection, as pure functions. Three rules hold at once (the 2009
 * service lost the second when it randomized its pool):
 *   1. the table's policy picks among its senders (failover, random, weighted);
 *   2. a per-domain route, when one matches, narrows the senders to its list,
 *      and mail for that domain never falls back to the rest of the pool;
 *   3. blocked (sender, domain) pairs are skipped.
 * The policy is applied last, to what rules 2 and 3 leave.
 */
import type { RouteTable, Sender } from "./schema.js";

export type IsBlocked = (sender: string, domain: string) => boolean;

/** The recipient's domain: everything after the last "@", lower-cased (never `%` or `!` routing). */
export function recipientDomain(address: string): string {
  const at = address.lastIndexOf("@");
  return (at === -1 ? "" : address.slice(at + 1)).toLowerCase();
}

/**
 * Does a domain route's `match` entry cover `domain`? Exact names match
 * themselves only; ".example.com" or "*.example.com" also match subdomains.
 */
export function domainMatches(pattern: string, domain: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith("*.")) return domain === p.slice(2) || domain.endsWith(p.slice(1));
  if (p.startsWith(".")) return domain === p.slice(1) || domain.endsWith(p);
  return domain === p;
}

/** The senders allowed to carry mail for `domain`, in table (or domain route) order, before blocks. */
export function sendersForDomain(table: RouteTable, domain: string): Sender[] {
  const route = table.domains.find((d) => d.match.some((pattern) => domainMatches(pattern, domain)));
  if (!route) return table.senders;
  const byName = new Map(table.senders.map((s) => [s.name, s]));
  return route.senders.map((name) => byName.get(name)).filter((s): s is Sender => s !== undefined);
}

export type RouteChoice =
  | { kind: "sender"; sender: Sender }
  /**
   * The sender to use is at its connection limit: try again shortly. `drawn`
   * (random, weighted) is the sender drawn, to pass back as `drawn` next time.
   */
  | { kind: "busy"; drawn?: string }
  /** No sender may carry this mail now (all blocked or excluded): defer. */
  | { kind: "none"; reason: string };

export interface ChooseOptions {
  table: RouteTable;
  domain: string;
  isBlocked: IsBlocked;
  /** Senders already found blocked for this recipient in this round. */
  exclude?: ReadonlySet<string>;
  /** False when the sender has no free connection slot. */
  hasCapacity?: (sender: Sender) => boolean;
  /** [0, 1). */
  random?: () => number;
  /** The sender this mail drew last time, kept while it stays usable so that waiting never re-draws. */
  drawn?: string;
}

export function chooseSender(options: ChooseOptions): RouteChoice {
  const { table, domain, isBlocked } = options;
  const exclude = options.exclude ?? new Set<string>();
  const hasCapacity = options.hasCapacity ?? (() => true);
  const random = options.random ?? Math.random;
  const allowed = sendersForDomain(table, domain);
  const usable = allowed.filter((s) => !exclude.has(s.name) && !isBlocked(s.name, domain));
  if (usable.length === 0) {
    const routed = allowed.length === table.senders.length ? "the pool" : "the domain route";
    return { kind: "none", reason: `every sender of ${routed} is blocked for ${domain}` };
  }
  switch (table.policy) {
    case "failover": {
      // In order: a busy first choice is waited for, not skipped, so mail
      // leaves from the backup only when the first choice is blocked.
      const first = usable[0] as Sender;
      return hasCapacity(first) ? { kind: "sender", sender: first } : { kind: "busy" };
    }
    case "random":
    case "weighted": {
      // Draw over every usable sender, then wait for the one drawn if it is busy: spilling
      // to whoever is free would skew the shares (and overrun an IP being warmed up on a
      // small weight) exactly when traffic is heaviest.
      const kept = options.drawn ? usable.find((s) => s.name === options.drawn) : undefined;
      const sender =
        kept ??
        (table.policy === "random"
          ? (usable[Math.floor(random() * usable.length)] as Sender)
          : pickWeighted(usable, random()));
      return hasCapacity(sender) ? { kind: "sender", sender } : { kind: "busy", drawn: sender.name };
    }
  }
}

/**
 * Weight-proportional pick. Weight 0 drains a sender: it is used only when
 * every usable sender has weight 0 (then they share equally), so mail is
 * never held because an operator zeroed the last working sender.
 */
export function pickWeighted(senders: readonly Sender[], draw: number): Sender {
  const positive = senders.filter((s) => s.weight > 0);
  const pool = positive.length > 0 ? positive : senders;
  const weights = positive.length > 0 ? pool.map((s) => s.weight) : pool.map(() => 1);
  const total = weights.reduce((a, b) => a + b, 0);
  let point = draw * total;
  for (let i = 0; i < pool.length; i++) {
    point -= weights[i] as number;
    if (point < 0) return pool[i] as Sender;
  }
  return pool[pool.length - 1] as Sender;
}
