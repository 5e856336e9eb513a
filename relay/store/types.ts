/**
 * The Store: every piece of state the relays of a fleet share.
 *
 * Two adapters implement it: `redis` (the fleet) and `local` (one process,
 * embedded SQLite under dataDir). Both pass the same contract suite
 * (test/store/contract.ts), so nothing above this interface may depend on
 * which one it talks to.
 *
 * Conventions
 * - Times are milliseconds since the epoch (UTC). Calls that depend on "now"
 *   take it as an argument so that tests and callers agree on the clock.
 * - Addresses (recipients, suppressed addresses) are compared case-insensitively
 *   and stored lower-cased.
 * - Lists are newest first unless a call says otherwise, paged with an opaque
 *   `cursor`: pass back `nextCursor` to get the next page; no `nextCursor`
 *   means there is nothing more.
 * - Every write that must be atomic is atomic (Redis: one Lua script per
 *   change, keys of one change in one Cluster hash slot; local: one SQLite
 *   transaction). Where a change spans slots it says so and why that is safe.
 * - Failures are thrown as `StoreError` with a code, never as bare strings.
 */
import type { Account } from "../accounts/schema.js";
import type { RouteTable } from "../routes/schema.js";
import type {
  AccountErrorRecord,
  ApiKeyRecord,
  BlockedPair,
  DeliveryAttempt,
  DeliveryStats,
  LimitWindow,
  MessageRecord,
  MessageSummary,
  NewEvent,
  NewMessage,
  NewWebhookDelivery,
  RecipientStatus,
  ReportDimension,
  ReportRow,
  SendingCounts,
  SendingLimits,
  StoredEvent,
  SuppressionEntry,
  SuppressionList,
  TransactionalGroup,
  WebhookDelivery,
  WebhookRecord,
} from "../vocabulary.js";

export type StoreErrorCode =
  /** A unique value (e.g. an SMTP username) already belongs to another record. */
  | "conflict"
  /** The record the change refers to does not exist. */
  | "not_found"
  /** The input or a stored payload failed validation. */
  | "invalid"
  /** The backing service is down or timed out; the caller may retry (SMTP 451). */
  | "unavailable";

export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface PageQuery {
  /** Default 100, at most 1000. */
  limit?: number;
  cursor?: string;
}

// ---------------------------------------------------------------- queries and answers

export interface LimitCheck {
  /** True when the increment was applied. */
  allowed: boolean;
  /** Allowed only because `overageAllowed` is set. */
  overage: boolean;
  /** The first window (hour, then day, then month) whose limit the increment would pass. */
  exceeded?: LimitWindow;
  /** Counts after the call (unchanged when not allowed). */
  counts: SendingCounts;
}

export interface MessageQuery extends PageQuery {
  /** acceptedAt >= since */
  since?: number;
  /** acceptedAt < until */
  until?: number;
  /** Only messages with this recipient (case-insensitive, exact). */
  rcpt?: string;
  /** Only messages with at least one recipient in this status. */
  status?: RecipientStatus;
  group?: string;
}

export interface EventResult {
  /** False when the message is unknown (never logged, or past retention). */
  recorded: boolean;
  /** First non-bot event of this type for this (message, recipient). */
  unique: boolean;
  /**
   * When recorded: the event as stored (normalised, with the message's
   * account and group). What webhooks are told (relay/webhooks/tap.ts).
   */
  event?: StoredEvent;
}

export interface TimeRange {
  since?: number;
  until?: number;
}

export interface WebhookClaimRequest {
  /** Who claims (one relay process); part of the claim token. */
  owner: string;
  now: number;
  /** How long the claim holds; after it, another claimer may take the delivery again. */
  leaseMs: number;
  /** At most this many deliveries in all. */
  limit: number;
  /** At most this many per webhook, counting those in `busy`. */
  perWebhook: number;
  /** Deliveries the claimer already has in flight, per webhook. */
  busy?: readonly { account: string; webhookId: string; count: number }[];
  /**
   * A due delivery passed over because its webhook is at `perWebhook` is not
   * due again for this long, so one busy webhook's backlog cannot hide the
   * others' from the next claim. Default 1000.
   */
  skipDelayMs?: number;
}

// ---------------------------------------------------------------- change notification

export type StoreChange =
  | { kind: "account"; name: string }
  | { kind: "routes"; name: string }
  | { kind: "blocked" }
  | { kind: "suppression"; account: string }
  | { kind: "webhooks"; account: string };

export type Unsubscribe = () => void;

// ---------------------------------------------------------------- the interface

export interface Store {
  readonly kind: "redis" | "local";

  // Accounts. Credentials arrive hashed (accounts/credentials.ts).
  /**
   * Creates or replaces an account (createdAt is kept on replace). Fails with
   * `conflict` when one of its usernames belongs to another account. Notifies
   * `{kind: "account"}`.
   */
  putAccount(account: Account): Promise<void>;
  getAccount(name: string): Promise<Account | undefined>;
  /** Sorted by name. */
  listAccounts(): Promise<Account[]>;
  /** Removes the account, its usernames, API keys, webhooks and outbox; true if it existed. Notifies. Other data expires on its own. */
  deleteAccount(name: string): Promise<boolean>;
  /** The account that owns this SMTP username, and the stored hash to verify against. */
  findAccountByUsername(username: string): Promise<{ account: Account; passwordHash: string } | undefined>;
  /** The account a client at `ip` may relay for as `from` without AUTH (accounts/match.ts rules). */
  findAccountByClient(ip: string, from: string): Promise<Account | undefined>;

  // API keys
  putApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKey(hash: string): Promise<ApiKeyRecord | undefined>;
  deleteApiKey(account: string, id: string): Promise<boolean>;

  // Suppression lists
  /** Adds or refreshes an entry (idempotent: the latest reason and time win). */
  addSuppression(
    account: string,
    entry: Omit<SuppressionEntry, "address"> & { address: string },
  ): Promise<void>;
  removeSuppression(account: string, list: SuppressionList, address: string): Promise<boolean>;
  getSuppression(
    account: string,
    list: SuppressionList,
    address: string,
  ): Promise<SuppressionEntry | undefined>;
  /** Every list the address is on for this account (empty when none), in SUPPRESSION_LISTS order. */
  suppressionsFor(account: string, address: string): Promise<SuppressionEntry[]>;
  /** Sorted by address; `search` keeps addresses containing it (case-insensitive). */
  listSuppressions(
    account: string,
    list: SuppressionList,
    query?: PageQuery & { search?: string },
  ): Promise<Page<SuppressionEntry>>;

  // Sending counters
  /**
   * Atomically counts `count` messages against the account's hour, day and
   * month windows (UTC) at `now`, unless that would pass a non-zero limit and
   * overage is not allowed. Never overshoots under concurrency.
   */
  checkAndIncrement(account: string, limits: SendingLimits, count: number, now: number): Promise<LimitCheck>;
  getCounts(account: string, now: number): Promise<SendingCounts>;

  /** A fixed-window counter for rate limits (e.g. AUTH failures per IP): adds 1, returns the count in the window containing `now`. */
  hit(key: string, windowSeconds: number, now: number): Promise<number>;

  // Transactional groups
  /** Idempotent; `created` tells whether it was new. */
  addGroup(account: string, name: string, now: number): Promise<{ created: boolean }>;
  /** Sorted by name. */
  listGroups(account: string): Promise<TransactionalGroup[]>;

  // Message log
  /** Logs an accepted message with every recipient `queued`; counts its recipients in the stats. Idempotent by id. */
  recordMessage(message: NewMessage): Promise<void>;
  /**
   * Appends an attempt for one recipient and moves its status:
   * delivered → delivered, bounced → bounced, deferred or blocked → deferred
   * (a final status is never moved back to deferred). Delivered, deferred
   * and bounced are also recorded as events (blocked counts as deferred).
   * No-op for an unknown message or a recipient it was not sent to
   * (then `recorded` is false); otherwise the result names the event recorded.
   */
  recordAttempt(messageId: string, recipient: string, attempt: DeliveryAttempt): Promise<EventResult>;
  /** Marks a recipient suppressed (not sent) with the reason. */
  markSuppressed(messageId: string, recipient: string, reason: string, now: number): Promise<void>;
  getMessage(id: string): Promise<MessageRecord | undefined>;
  /** Newest first (by acceptedAt, then id). */
  listMessages(account: string, query?: MessageQuery): Promise<Page<MessageSummary>>;
  /** Deletes messages accepted before `before`, with their recipients and events; returns how many. */
  purgeMessages(before: number): Promise<number>;

  // Events and stats
  /**
   * Records a tracking or delivery event for a logged message. A `bounced`
   * or `delivered` event also sets the recipient's status (a later bounce
   * report overrides delivered). `unsubscribe` and `complaint` do not touch
   * suppression lists: the caller decides.
   */
  recordEvent(event: NewEvent): Promise<EventResult>;
  getMessageStats(messageId: string): Promise<DeliveryStats | undefined>;
  /** Summed over UTC hours: `since` rounds down, `until` rounds up to the hour. */
  getGroupStats(account: string, group: string, range?: TimeRange): Promise<DeliveryStats>;
  /** Summed over UTC days: `since` rounds down, `until` rounds up to the day. Sorted by key. */
  getReport(account: string, dimension: ReportDimension, range?: TimeRange): Promise<ReportRow[]>;

  // Errors found after acceptance (kept newest first, at most the last 10,000 per account)
  recordError(account: string, error: AccountErrorRecord): Promise<void>;
  listErrors(account: string, query?: PageQuery & TimeRange): Promise<Page<AccountErrorRecord>>;

  // Route tables and blocked pairs
  /** Notifies `{kind: "routes", name}`. */
  putRouteTable(name: string, table: RouteTable): Promise<void>;
  getRouteTable(name: string): Promise<RouteTable | undefined>;
  /** Sorted by name. */
  listRouteTables(): Promise<{ name: string; table: RouteTable }[]>;
  deleteRouteTable(name: string): Promise<boolean>;
  /** Adds or extends a block (the later `until` wins). Notifies `{kind: "blocked"}`. */
  reportBlocked(pair: BlockedPair): Promise<void>;
  /** Blocks still in force at `now`, sorted by sender then domain. */
  listBlocked(now: number): Promise<BlockedPair[]>;
  clearBlocked(sender: string, domain: string): Promise<boolean>;

  // Webhooks (relay/webhooks): a handful per account, read on every event, so no paging.
  /** Creates or replaces by (account, id). Notifies `{kind: "webhooks", account}`. */
  putWebhook(webhook: WebhookRecord): Promise<void>;
  /** Oldest first (createdAt, then id). */
  listWebhooks(account: string): Promise<WebhookRecord[]>;
  /** True if it existed. Notifies. */
  deleteWebhook(account: string, id: string): Promise<boolean>;

  // Webhook outbox (relay/webhooks/README.md): what makes webhooks at least once across restarts.
  // Shared by the fleet (Redis): any relay may send any delivery, one at a time while its claim holds.
  /**
   * Adds deliveries of one account's event, due at their createdAt. Then, if
   * the account has more than `maxPerAccount` outstanding (claimed ones
   * included), the oldest (by enqueueing order) are removed; `dropped` says
   * how many.
   */
  enqueueWebhookDeliveries(
    account: string,
    deliveries: readonly NewWebhookDelivery[],
    maxPerAccount: number,
  ): Promise<{ dropped: number }>;
  /**
   * Claims due deliveries (due at or before `now`, unclaimed or whose claim's
   * lease has passed), oldest due first, and counts an attempt on each.
   */
  claimWebhookDeliveries(request: WebhookClaimRequest): Promise<WebhookDelivery[]>;
  /** Removes a claimed delivery (answered 2xx, or given up); false when `claim` no longer holds it. */
  finishWebhookDelivery(delivery: Pick<WebhookDelivery, "id" | "account" | "claim">): Promise<boolean>;
  /** Releases a claimed delivery to be claimed again from `dueAt`; false when `claim` no longer holds it. */
  retryWebhookDelivery(delivery: Pick<WebhookDelivery, "id" | "claim">, dueAt: number): Promise<boolean>;
  /** Deliveries outstanding (claimed or not), for one account or all. */
  countWebhookDeliveries(account?: string): Promise<number>;

  // Change notification
  /**
   * Calls `listener` for every change made through any Store on the same
   * backing state (Redis: every relay of the fleet, within a second), this
   * one's own included. Listener errors are caught and logged, never thrown
   * into the writer.
   */
  onChange(listener: (change: StoreChange) => void): Unsubscribe;

  /** Answers when the backing service is reachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
