/**
 * Direct-to-MX: which hosts take mail for a domain (RFC 5321 §5.1), with the
 * resolver passed in (tests answer with loopback hosts; production uses
 * node:dns). Outcomes are values, not exceptions: hosts to try, a permanent
 * failure to bounce, or a temporary one to defer.
 */
import { promises as dns } from "node:dns";

export interface MxRecord {
  exchange: string;
  priority: number;
}

export type MxResolver = (domain: string) => Promise<MxRecord[]>;

export const systemMxResolver: MxResolver = (domain) => dns.resolveMx(domain);

export type MxLookup =
  | { kind: "hosts"; hosts: string[] }
  | { kind: "bounce"; status: string; text: string }
  | { kind: "defer"; text: string };

/** Lowest preference first; equal preferences shuffled so load spreads across them. */
export function orderMx(records: readonly MxRecord[], random: () => number = Math.random): string[] {
  const keyed = records.map((r) => ({ r, tie: random() }));
  keyed.sort((a, b) => a.r.priority - b.r.priority || a.tie - b.tie);
  return [...new Set(keyed.map((k) => k.r.exchange.replace(/\.$/, "").toLowerCase()))];
}

/** Maps a resolver answer or error to what delivery does next. */
export function interpretMx(
  domain: string,
  result: MxRecord[] | { code?: string; message: string },
  random?: () => number,
): MxLookup {
  if (Array.isArray(result)) {
    // RFC 7505 null MX: the domain accepts no mail.
    if (result.length === 1 && (result[0]?.exchange === "" || result[0]?.exchange === "."))
      return { kind: "bounce", status: "5.1.10", text: `${domain} accepts no mail (null MX)` };
    if (result.length === 0) return { kind: "hosts", hosts: [domain] };
    return { kind: "hosts", hosts: orderMx(result, random) };
  }
  switch (result.code) {
    // No MX record: the domain's own address records are its implicit MX.
    case "ENODATA":
      return { kind: "hosts", hosts: [domain] };
    case "ENOTFOUND":
      return { kind: "bounce", status: "5.1.2", text: `${domain}: no such domain` };
    default:
      return { kind: "defer", text: `MX lookup for ${domain} failed: ${result.code ?? result.message}` };
  }
}

/** Looks up MX hosts, remembering answers (and failures) for `ttlMs`. */
export class MxCache {
  private readonly cache = new Map<string, { lookup: MxLookup; expires: number }>();

  constructor(
    private readonly resolver: MxResolver = systemMxResolver,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async lookup(domain: string): Promise<MxLookup> {
    const hit = this.cache.get(domain);
    if (hit && hit.expires > this.now()) return hit.lookup;
    const result = await this.resolver(domain).catch((error: NodeJS.ErrnoException) => ({
      ...(error.code ? { code: error.code } : {}),
      message: error.message,
    }));
    const lookup = interpretMx(domain, result);
    // Temporary failures are not kept: the next recipient asks again.
    if (lookup.kind !== "defer") {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(domain, { lookup, expires: this.now() + this.ttlMs });
    }
    return lookup;
  }
}
