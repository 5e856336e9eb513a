/**
 * Key layout. Every key starts with the store's prefix and carries a Redis
 * Cluster hash tag, so the keys one Lua script touches share a slot:
 *
 *   {accounts}   accounts, usernames, API keys (one slot: usernames and key
 *                hashes are unique fleet-wide, so one script must see them all)
 *   {a:NAME}     per-account data: suppressions, counters, groups, message
 *                index, stats buckets, errors, webhooks
 *   {m:ID}       one message: record, events, stats, unique set
 *   {log}        the fleet-wide accepted-at index that purgeMessages walks
 *   {routes}     route tables and blocked pairs
 *   {h:KEY}      one fixed-window rate counter
 *   {outbox}     the webhook outbox, fleet-wide (one slot: any relay claims
 *                any account's deliveries, oldest due first, in one script)
 *
 * Variable parts are escaped so that no name can close a hash tag early or
 * forge another key ("}", "{", ":" and "%" are percent-encoded).
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Escapes a caller-supplied name for use inside a key. Injective. */
export function keyPart(value: string): string {
  return value.replace(/[%{}:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

export function hourIndex(at: number): number {
  return Math.floor(at / HOUR_MS);
}

export function dayIndex(at: number): number {
  return Math.floor(at / DAY_MS);
}

/** UTC calendar month as YYYYMM. */
export function monthIndex(at: number): number {
  const d = new Date(at);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

export function monthEnd(at: number): number {
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export { DAY_MS, HOUR_MS };

export type Keys = ReturnType<typeof storeKeys>;

export function storeKeys(prefix: string) {
  const account = (name: string) => `${prefix}{a:${keyPart(name)}}`;
  const message = (id: string) => `${prefix}{m:${keyPart(id)}}`;
  const accounts = `${prefix}{accounts}`;
  const routes = `${prefix}{routes}`;
  const outbox = `${prefix}{outbox}`;
  return {
    changes: `${prefix}changes`,

    /** hash name → account JSON without createdAt. */
    accounts: `${accounts}:records`,
    /** hash name → createdAt, kept apart so a replace keeps it without parsing JSON in Lua. */
    accountsCreated: `${accounts}:created`,
    /** hash username → account name. */
    usernames: `${accounts}:usernames`,
    /** set of the usernames one account owns, to release them on replace or delete. */
    usernamesOf: (name: string) => `${accounts}:usernames-of:${keyPart(name)}`,
    /** hash key hash → ApiKeyRecord JSON. */
    apiKeys: `${accounts}:api-keys`,
    /** hash key id → key hash, for one account. */
    apiKeysOf: (name: string) => `${accounts}:api-keys-of:${keyPart(name)}`,

    /** hash address → SuppressionEntry JSON. */
    suppressions: (name: string, list: string) => `${account(name)}:supp:${list}`,
    /** zset of addresses (all score 0), for lexicographic paging. */
    suppressionIndex: (name: string, list: string) => `${account(name)}:supp:${list}:index`,

    sentHour: (name: string, at: number) => `${account(name)}:sent:h:${hourIndex(at)}`,
    sentDay: (name: string, at: number) => `${account(name)}:sent:d:${dayIndex(at)}`,
    sentMonth: (name: string, at: number) => `${account(name)}:sent:m:${monthIndex(at)}`,

    /** hash group name → createdAt. */
    groups: (name: string) => `${account(name)}:groups`,
    /** hash stats field → count, for one group and UTC hour. */
    groupHour: (name: string, group: string, hour: number) =>
      `${account(name)}:gstats:${keyPart(group)}:${hour}`,
    /** zset of the hours that have a bucket (member and score: the hour index). */
    groupHours: (name: string, group: string) => `${account(name)}:gstats:${keyPart(group)}:hours`,
    /** hash "dimension|key|field" → count, for one UTC day. */
    reportDay: (name: string, day: number) => `${account(name)}:report:${day}`,
    reportDays: (name: string) => `${account(name)}:report:days`,

    /** zset message id scored by acceptedAt. */
    messageIndex: (name: string) => `${account(name)}:messages`,
    /** zset of JSON [account, id] scored by acceptedAt, fleet-wide. */
    acceptedIndex: `${prefix}{log}:accepted`,

    /** hash webhook id → WebhookRecord JSON (a few per account; read whole on every event). */
    webhooks: (name: string) => `${account(name)}:webhooks`,

    /** zset "seq|json" scored by at; seq keeps insertion order among equal times. */
    errors: (name: string) => `${account(name)}:errors`,
    errorSeq: (name: string) => `${account(name)}:errors:seq`,

    message: (id: string) => `${message(id)}:record`,
    messageEvents: (id: string) => `${message(id)}:events`,
    messageStats: (id: string) => `${message(id)}:stats`,
    messageUnique: (id: string) => `${message(id)}:unique`,

    routeTables: `${routes}:tables`,
    /** hash "sender\ndomain" → BlockedPair JSON. */
    blocked: `${routes}:blocked`,

    /** zset delivery id scored by when it is due: its due time, or its claim's lease end. */
    outboxDue: `${outbox}:due`,
    /** hash delivery id → JSON {id, account, webhookId, eventType, body, createdAt} (never changes). */
    outboxEntries: `${outbox}:entries`,
    /** hash delivery id → "ACCOUNT\nWEBHOOK", what the claim script counts per webhook by. */
    outboxHook: `${outbox}:hook`,
    /** hash delivery id → "ATTEMPTS|CLAIM" (CLAIM empty when not claimed). */
    outboxState: `${outbox}:state`,
    /** counter: enqueueing order. */
    outboxSeq: `${outbox}:seq`,
    /** zset of one account's delivery ids scored by enqueueing order: what its cap drops by. */
    outboxOf: (name: string) => `${outbox}:of:${keyPart(name)}`,

    hit: (key: string, windowIndex: number) => `${prefix}{h:${keyPart(key)}}:${windowIndex}`,
  };
}
