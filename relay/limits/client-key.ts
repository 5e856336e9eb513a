/**
 * Which "client" an address is for rate limits and connection caps. An IPv4
 * address is one client; an IPv6 host usually holds a whole /64 (SLAAC,
 * privacy addresses) and can pick a fresh address for every connection, so
 * the /64 is one client. IPv4-mapped IPv6 is the IPv4 address.
 */
import { isIP } from "node:net";

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
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...Array.from({ length: tail === undefined ? 0 : missing }, () => "0"), ...right];
  return groups.map((group) => Number.parseInt(group, 16));
}
