/**
 * Which "client" an address is for rate limits and connection caps. An IPv4
 * address is one client; an IPv6 host usually holds a whole /64 (SLAAC,
 * privacy addresses) and can pick a fresh address for every connection, so
 * the /64 is one client. IPv4-mapped IPv6 is the IPv4 address.
 */
import { BlockList, isIP } from "node:net";

/** Private, loopback, link-local and carrier-grade NAT ranges: where balancers, ingresses and nodes live. */
const PRIVATE_RANGES: readonly [string, number, "ipv4" | "ipv6"][] = [
  ["10.0.0.0", 8, "ipv4"],
  ["172.16.0.0", 12, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["::1", 128, "ipv6"],
  ["fc00::", 7, "ipv6"],
  ["fe80::", 10, "ipv6"],
];
const privateRanges = new BlockList();
for (const [address, bits, type] of PRIVATE_RANGES) privateRanges.addSubnet(address, bits, type);

/**
 * Is `ip` a private address? Behind a proxy whose X-Forwarded-For is not
 * trusted, every hit comes from the proxy's private address, so a per-client
 * limit there would be a limit on everyone.
 */
export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(ip);
  const address = mapped?.[1] ?? ip;
  const family = isIP(address);
  if (family === 0) return false;
  return privateRanges.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** The limit key for `ip`: the IPv4 address, or "PREFIX::/64" for IPv6; anything else unchanged. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  const zone = ip.indexOf("%");
  const address = zone === -1 ? ip : ip.slice(0, zone);
  if (isIP(address) !== 6) return ip;
  const groups = expandIpv6(address);
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (an embedded dotted quad included). */
function expandIpv6(address: string): number[] {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(":");
  const tailGroup = text.slice(lastColon + 1);
  if (tailGroup.includes(".")) {
    const [a, b, c, d] = tailGroup.split(".").map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...Array.from({ length: tail === undefined ? 0 : missing }, () => "0"), ...right];
  return groups.map((group) => Number.parseInt(group, 16));
}
