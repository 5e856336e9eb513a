/**
 * The reader's IP address. Behind a load balancer the socket's peer is the
 * balancer, so X-Forwarded-For is read, but only when the peer is a proxy the
 * operator named: anyone else could write any address into that header.
 */
import { isIP } from "node:net";
import { ipMatcher } from "../accounts/match.js";

export type ProxyCheck = (ip: string) => boolean;

export function proxyCheck(trusted: readonly string[]): ProxyCheck {
  if (trusted.length === 0) return () => false;
  return ipMatcher(trusted);
}

/**
 * Walks X-Forwarded-For from the right (the entry our own proxy added) past
 * every trusted proxy; the first address that is not one is the client.
 * Not `proxy-addr` (the same rule): not a dependency, and this shares ipMatcher with allowedIps.
 */
export function clientAddress(
  socketIp: string | undefined,
  forwardedFor: string | string[] | undefined,
  isTrustedProxy: ProxyCheck,
): string | undefined {
  if (!socketIp || !isTrustedProxy(socketIp) || forwardedFor === undefined) return socketIp;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map((hop) => hop.trim())
    .filter((hop) => hop !== "");
  let client = socketIp;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    // Garbage in the header ends the walk: the last address we could trust stands.
    if (isIP(hop) === 0) break;
    client = hop;
    if (!isTrustedProxy(hop)) break;
  }
  return client;
}
