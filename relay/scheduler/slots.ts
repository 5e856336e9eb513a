/**
 * Delivery concurrency: a global number of in-flight deliveries split into
 * lanes (each `lane: dedicated` account owns a reserve nobody else may use,
 * and shares the rest like everyone), and caps per recipient domain and per
 * sender. Pure bookkeeping; the scheduler acquires before it starts a
 * delivery and releases when it ends. The limits are config `scheduler`
 * (docs/configuration.md, "Delivery slots").
 */
import type { RelayConfig } from "../config/schema.js";

export interface SlotLimits {
  /** In-flight deliveries in all. */
  total: number;
  /** Reserved for each dedicated account, while the reserves leave the shared lane its floor. */
  dedicatedReserve: number;
  /**
   * The least share of `total` (0 to 1) the shared lane keeps however many accounts are
   * dedicated: past it every reserve shrinks alike (laneCapacity).
   */
  minSharedShare: number;
  /**
   * In-flight deliveries per recipient domain when delivering direct to its MX
   * hosts (Postfix's default destination limit is 20). Through a smart host the
   * destination is the smart host, capped by its sender's maxConnections.
   */
  perDomain: number;
}

export const DEFAULT_SLOT_LIMITS: SlotLimits = {
  total: 200,
  dedicatedReserve: 32,
  minSharedShare: 0.5,
  perDomain: 20,
};

/** The limits config `scheduler` sets. */
export function slotLimitsOf(settings: RelayConfig["scheduler"]): SlotLimits {
  return {
    total: settings.maxDeliveries,
    dedicatedReserve: settings.dedicatedReserve,
    minSharedShare: settings.minSharedShare,
    perDomain: settings.maxPerDomain,
  };
}

/** How `total` splits between the dedicated accounts' reserves and the shared lane. */
export interface LaneSplit {
  /** Slots reserved for each dedicated account. */
  reservePerAccount: number;
  /** Slots every account (dedicated ones too) may use. */
  shared: number;
}

/**
 * Every dedicated account gets `reserve` while the reserves leave the shared lane at least
 * `minSharedShare` of `total` (and never less than one slot); past that the reserves shrink in
 * proportion, all alike, so that adding dedicated accounts never starves the rest. A reserve
 * may shrink to nothing (more dedicated accounts than slots to reserve): those accounts then
 * share like everyone.
 */
export function laneCapacity(
  total: number,
  dedicatedAccounts: number,
  reserve: number,
  minSharedShare: number,
): LaneSplit {
  const slots = Math.max(1, Math.floor(total));
  const accounts = Math.max(0, Math.floor(dedicatedAccounts));
  const wanted = Math.max(0, Math.floor(reserve));
  if (accounts === 0) return { reservePerAccount: wanted, shared: slots };
  const share = Math.min(1, Math.max(0, minSharedShare));
  const floor = Math.min(slots, Math.max(1, Math.ceil(slots * share)));
  const reservable = slots - floor;
  const reservePerAccount = Math.min(wanted, Math.floor(reservable / accounts));
  return { reservePerAccount, shared: slots - reservePerAccount * accounts };
}

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
  private split: LaneSplit;

  constructor(private readonly limits: SlotLimits) {
    this.split = this.splitFor(0);
  }

  /**
   * Which accounts have dedicated lanes now (from the account cache). Slots already taken stay
   * taken when the split changes; the new one holds as they are released.
   */
  setDedicated(accounts: Iterable<string>): void {
    this.dedicated.clear();
    for (const name of accounts) this.dedicated.add(name);
    this.split = this.splitFor(this.dedicated.size);
  }

  private splitFor(dedicatedAccounts: number): LaneSplit {
    const { total, dedicatedReserve, minSharedShare } = this.limits;
    return laneCapacity(total, dedicatedAccounts, dedicatedReserve, minSharedShare);
  }

  get active(): number {
    return this.inFlight;
  }

  /** Shared slots: the total less every dedicated reserve (laneCapacity). */
  get sharedCapacity(): number {
    return this.split.shared;
  }

  /** Slots each dedicated account has to itself now (laneCapacity). */
  get reservePerAccount(): number {
    return this.split.reservePerAccount;
  }

  /** Could this account start one more delivery, ignoring domain and sender? */
  laneFree(account: string): boolean {
    return this.reserveFree(account) || this.sharedInUse < this.split.shared;
  }

  private reserveFree(account: string): boolean {
    return (
      this.dedicated.has(account) && (this.reservedInUse.get(account) ?? 0) < this.split.reservePerAccount
    );
  }

  domainFree(domain: string): boolean {
    return (this.byDomain.get(domain) ?? 0) < this.limits.perDomain;
  }

  senderFree(senderKey: string, maxConnections: number): boolean {
    return (this.bySender.get(senderKey) ?? 0) < maxConnections;
  }

  /** Takes a slot; the caller checked laneFree, domainFree and senderFree first. */
  acquire(account: string, domain: string | undefined, senderKey: string): Slot {
    const reserved = this.reserveFree(account);
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
