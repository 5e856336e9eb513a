/**
 * Delivery concurrency: a global number of in-flight deliveries split into
 * lanes (each `lane: dedicated` account owns a reserve nobody else may use,
 * and shares the rest like everyone), and caps per recipient domain and per
 * sender. Pure bookkeeping; the scheduler acquires before it starts a
 * delivery and releases when it ends.
 */

export interface SlotLimits {
  /** In-flight deliveries in all. */
  total: number;
  /** Reserved for each dedicated account. */
  dedicatedReserve: number;
  /**
   * In-flight deliveries per recipient domain when delivering direct to its MX
   * hosts (Postfix's default destination limit is 20). Through a smart host the
   * destination is the smart host, capped by its sender's maxConnections.
   */
  perDomain: number;
}

export const DEFAULT_SLOT_LIMITS: SlotLimits = { total: 200, dedicatedReserve: 32, perDomain: 20 };

export interface Slot {
  account: string;
  /** Counted against perDomain; undefined through a smart host. */
  domain: string | undefined;
  senderKey: string;
  /** Which pool the slot came from. */
  pool: "reserved" | "shared";
}

export class SlotLedger {
  private readonly dedicated = new Set<string>();
  private sharedInUse = 0;
  private readonly reservedInUse = new Map<string, number>();
  private readonly byDomain = new Map<string, number>();
  private readonly bySender = new Map<string, number>();
  private inFlight = 0;

  constructor(private readonly limits: SlotLimits) {}

  /** Which accounts have dedicated lanes now (from the account cache). */
  setDedicated(accounts: Iterable<string>): void {
    this.dedicated.clear();
    for (const name of accounts) this.dedicated.add(name);
  }

  get active(): number {
    return this.inFlight;
  }

  /** Shared slots: the total less every dedicated reserve, and never less than one. */
  get sharedCapacity(): number {
    return Math.max(1, this.limits.total - this.dedicated.size * this.limits.dedicatedReserve);
  }

  /** Could this account start one more delivery, ignoring domain and sender? */
  laneFree(account: string): boolean {
    if (this.dedicated.has(account) && (this.reservedInUse.get(account) ?? 0) < this.limits.dedicatedReserve)
      return true;
    return this.sharedInUse < this.sharedCapacity;
  }

  domainFree(domain: string): boolean {
    return (this.byDomain.get(domain) ?? 0) < this.limits.perDomain;
  }

  senderFree(senderKey: string, maxConnections: number): boolean {
    return (this.bySender.get(senderKey) ?? 0) < maxConnections;
  }

  /** Takes a slot; the caller checked laneFree, domainFree and senderFree first. */
  acquire(account: string, domain: string | undefined, senderKey: string): Slot {
    const reserved =
      this.dedicated.has(account) && (this.reservedInUse.get(account) ?? 0) < this.limits.dedicatedReserve;
    if (reserved) this.reservedInUse.set(account, (this.reservedInUse.get(account) ?? 0) + 1);
    else this.sharedInUse++;
    if (domain !== undefined) bump(this.byDomain, domain, 1);
    bump(this.bySender, senderKey, 1);
    this.inFlight++;
    return { account, domain, senderKey, pool: reserved ? "reserved" : "shared" };
  }

  release(slot: Slot): void {
    if (slot.pool === "reserved") bump(this.reservedInUse, slot.account, -1);
    else this.sharedInUse--;
    if (slot.domain !== undefined) bump(this.byDomain, slot.domain, -1);
    bump(this.bySender, slot.senderKey, -1);
    this.inFlight--;
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}
