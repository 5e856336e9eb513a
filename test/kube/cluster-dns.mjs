/**
 * Cluster DNS for the test kubelet's node programs (kubelet.ts), loaded with
 * NODE_OPTIONS=--import. No cluster DNS runs on this machine, so a pod's
 * lookups of a Service name (`NAME.NAMESPACE.svc`, optionally
 * `.cluster.local`) are answered here from the records the kubelet keeps in
 * the file named by RELAYFLEET_TEST_CLUSTER_DNS: the ready endpoints of that
 * Service, re-read at every lookup, as cluster DNS follows the endpoints. A
 * Service with none is NXDOMAIN; it has no AAAA records. Any other name goes
 * to the machine's resolver as before. Test infrastructure only.
 */
import dns from "node:dns";
import { readFileSync } from "node:fs";

const recordsFile = process.env.RELAYFLEET_TEST_CLUSTER_DNS;
const SERVICE_NAME = /^[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?\.?$/i;

/** The Service's addresses, or undefined for a name that is not a Service's. */
function serviceAddresses(hostname) {
  if (!recordsFile || typeof hostname !== "string" || !SERVICE_NAME.test(hostname)) return undefined;
  const records = JSON.parse(readFileSync(recordsFile, "utf8"));
  return records[hostname.toLowerCase().replace(/\.$/, "")] ?? [];
}

function dnsError(syscall, code, hostname) {
  return Object.assign(new Error(`${syscall} ${code} ${hostname}`), { code, syscall, hostname });
}

/** resolve4(hostname[, options], callback) and resolve6 for Service names. */
function wrapResolve(original, family) {
  return function resolveService(hostname, ...rest) {
    const addresses = serviceAddresses(hostname);
    if (addresses === undefined) return original.call(this, hostname, ...rest);
    const callback = rest.pop();
    const withTtl = Boolean(rest[0]?.ttl);
    process.nextTick(() => {
      if (addresses.length === 0) callback(dnsError(`queryA`, dns.NOTFOUND, hostname));
      else if (family === 6) callback(dnsError("queryAaaa", dns.NODATA, hostname));
      else callback(null, withTtl ? addresses.map((address) => ({ address, ttl: 5 })) : addresses);
    });
    return undefined;
  };
}

const originalLookup = dns.lookup;
dns.lookup = function lookupService(hostname, options, callback) {
  const addresses = serviceAddresses(hostname);
  if (addresses === undefined) return originalLookup.call(this, hostname, options, callback);
  const done = typeof options === "function" ? options : callback;
  const wanted = typeof options === "object" && options !== null ? options : { family: options };
  process.nextTick(() => {
    if (addresses.length === 0 || wanted.family === 6) done(dnsError("getaddrinfo", dns.NOTFOUND, hostname));
    else if (wanted.all)
      done(
        null,
        addresses.map((address) => ({ address, family: 4 })),
      );
    else done(null, addresses[0], 4);
  });
  return undefined;
};

dns.resolve4 = wrapResolve(dns.resolve4, 4);
dns.resolve6 = wrapResolve(dns.resolve6, 6);
dns.Resolver.prototype.resolve4 = wrapResolve(dns.Resolver.prototype.resolve4, 4);
dns.Resolver.prototype.resolve6 = wrapResolve(dns.Resolver.prototype.resolve6, 6);
