/**
 * Pure matching rules for "who may relay": client IP against CIDR ranges and
 * sender addresses against allowedFrom patterns.
 */
import { BlockList, isIP } from "node:net";
import type { Account } from "./schema.js";

/** Builds a matcher for a list of IP addresses and CIDR ranges (v4 and v6; v4-mapped v6 clients match v4 ranges). */
export function ipMatcher(ranges: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const range of ranges) {
    const slash = range.indexOf("/");
    const address = slash === -1 ? range : range.slice(0, slash);
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (slash === -1) list.addAddress(address, type);
    else list.addSubnet(address, Number(range.slice(slash + 1)), type);
  }
  return (ip: string) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    const address = mapped?.[1] ?? ip;
    const family = isIP(address);
    if (family === 0) return false;
    return list.check(address, family === 6 ? "ipv6" : "ipv4");
  };
}

/**
 * Does `address` match one of `patterns`? Patterns are "*", "user@domain",
 * "*@domain" and "*@*.domain" (any subdomain, not the domain itself).
 * Comparison is case-insensitive. The domain is what follows the last "@".
 */
export function fromMatches(patterns: readonly string[], address: string): boolean {
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return false;
  const lower = address.toLowerCase();
  const local = lower.slice(0, at);
  const domain = lower.slice(at + 1);
  for (const raw of patterns) {
    const pattern = raw.toLowerCase();
    if (pattern === "*") return true;
    const pAt = pattern.lastIndexOf("@");
    const pLocal = pattern.slice(0, pAt);
    const pDomain = pattern.slice(pAt + 1);
    const localOk = pLocal === "*" || pLocal === local;
    const domainOk = pDomain.startsWith("*.") ? domain.endsWith(pDomain.slice(1)) : pDomain === domain;
    if (localOk && domainOk) return true;
  }
  return false;
}

/**
 * The account a client may relay for without AUTH: its IP is in the account's
 * allowedIps and the sender matches its allowedFrom. First match in name order,
 * so the answer does not depend on storage order.
 *
 * `clientMatcher` sorts the accounts and builds their IP matchers once, so a
 * caller that keeps the account list (the intake's cache) pays that once per
 * list rather than at every MAIL FROM.
 */
export function clientMatcher(
  accounts: readonly Account[],
): (ip: string, from: string) => Account | undefined {
  const candidates = accounts
    .filter((a) => a.allowedIps.length > 0)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((account) => ({ account, ipAllowed: ipMatcher(account.allowedIps) }));
  return (ip, from) =>
    candidates.find((c) => c.ipAllowed(ip) && fromMatches(c.account.allowedFrom, from))?.account;
}

export function accountForClient(
  accounts: readonly Account[],
  ip: string,
  from: string,
): Account | undefined {
  return clientMatcher(accounts)(ip, from);
}
