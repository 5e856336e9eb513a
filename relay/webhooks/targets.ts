/**
 * Where webhooks may be sent (SSRF). A webhook URL is chosen by an account,
 * and the relay sits inside someone's network, so by default a POST may only
 * reach a public unicast address. Refused: loopback, RFC 1918 and unique-local
 * private ranges, carrier-grade NAT, link-local (169.254.169.254, the cloud
 * metadata service, is link-local), multicast, and the other special-purpose
 * ranges of the IANA registries. An operator lets chosen ranges through with
 * `webhooks.allowPrivateTargets` (e.g. "10.0.0.0/8" for a receiver inside the
 * cluster; the tests use "127.0.0.0/8").
 *
 * The check runs on the addresses the connection is made to, in the socket's
 * own DNS lookup, so a name that resolves to a public address when checked and
 * to a private one when connecting (DNS rebinding) cannot slip through. When a
 * name resolves to several addresses, any refused one refuses the target.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ipMatcher } from "../accounts/match.js";

/** Not globally reachable, per the IANA IPv4 and IPv6 special-purpose address registries. */
const SPECIAL_V4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
];
const SPECIAL_V6 = [
  "::/127", // unspecified and loopback
  "64:ff9b:1::/48",
  "100::/64",
  "2001::/23",
  "2001:db8::/32",
  "2002::/16", // 6to4: reaches IPv4 space indirectly
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
];

const special = new BlockList();
for (const range of SPECIAL_V4) {
  const [address, bits] = range.split("/") as [string, string];
  special.addSubnet(address, Number(bits), "ipv4");
}
for (const range of SPECIAL_V6) {
  const [address, bits] = range.split("/") as [string, string];
  special.addSubnet(address, Number(bits), "ipv6");
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address. */
function embeddedV4(ip: string): string | undefined {
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (!hex) return undefined;
  const high = Number.parseInt(hex[1] as string, 16);
  const low = Number.parseInt(hex[2] as string, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

/** True for a globally reachable unicast address; pure. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  const v4 = family === 6 ? embeddedV4(ip) : ip;
  if (v4 !== undefined) return !special.check(v4, "ipv4");
  return !special.check(ip, "ipv6");
}

export type TargetCheck = (ip: string) => boolean;

/** Public addresses, plus those in `allowPrivate` (IP addresses or CIDR ranges). */
export function targetCheck(allowPrivate: readonly string[]): TargetCheck {
  const allowed = ipMatcher(allowPrivate);
  return (ip) => isPublicAddress(ip) || allowed(ip);
}

export class TargetRefusedError extends Error {
  override readonly name = "TargetRefusedError";
  readonly code = "ERR_WEBHOOK_TARGET_REFUSED";
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * The URL's own rules, before any DNS: http(s) only, no user info (it would be
 * sent as Basic credentials to whoever answers), and an IP literal host must
 * pass `allowed` here, since no lookup happens for one.
 */
export function checkTargetUrl(raw: string, allowed: TargetCheck): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "not a URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, reason: "not http(s)" };
  if (url.username || url.password) return { ok: false, reason: "user info in the URL" };
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) !== 0 && !allowed(host)) return { ok: false, reason: `address ${host} is not allowed` };
  return { ok: true, url };
}

/** A socket lookup that resolves as usual, then refuses the target if any address is not allowed. */
export function guardedLookup(allowed: TargetCheck, resolve: typeof dnsLookup = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, "", 4);
      const refused = addresses.find((a) => !allowed(a.address));
      if (refused || addresses.length === 0) {
        const reason = refused
          ? `${hostname} resolves to ${refused.address}, which is not allowed`
          : "no address";
        return callback(new TargetRefusedError(reason), "", 4);
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}
