/**
 * Which (sender, domain) pairs are blocked now: the Store's list (every
 * relay's reports and the operator's view) plus this relay's own reports,
 * which hold from the moment the answer arrives, before the Store round trip.
 * No I/O here; the route book feeds it.
 */
import type { BlockedPair } from "../vocabulary.js";

const key = (sender: string, domain: string) => `${sender}\u0000${domain.toLowerCase()}`;

export class BlockBook {
  private fromStore = new Map<string, number>();
  private local = new Map<string, number>();

  /** Replaces the Store's view (listBlocked). A pair cleared in the Store is unblocked here too. */
  replaceFromStore(pairs: readonly BlockedPair[]): void {
    this.fromStore = new Map(pairs.map((p) => [key(p.sender, p.domain), p.until]));
    // A local report the Store already knows (or has cleared) defers to the Store from now on.
    for (const k of this.local.keys()) if (this.fromStore.has(k)) this.local.delete(k);
  }

  /** Records this relay's own finding; it holds until `until` or until the Store's view includes it. */
  addLocal(sender: string, domain: string, until: number): void {
    const k = key(sender, domain);
    this.local.set(k, Math.max(until, this.local.get(k) ?? 0));
  }

  isBlocked(sender: string, domain: string, now: number): boolean {
    const k = key(sender, domain);
    const until = Math.max(this.fromStore.get(k) ?? 0, this.local.get(k) ?? 0);
    return until > now;
  }

  /** Pairs in force at `now` (for the blocked-pairs gauge). */
  count(now: number): number {
    const keys = new Set<string>();
    for (const [k, until] of this.fromStore) if (until > now) keys.add(k);
    for (const [k, until] of this.local) if (until > now) keys.add(k);
    return keys.size;
  }
}
