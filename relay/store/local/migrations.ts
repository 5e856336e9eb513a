/**
 * The local store's schema, one migration per version. `PRAGMA user_version`
 * records how many have been applied; each runs in its own transaction, so a
 * crash mid-upgrade leaves the file at the previous version. Never edit a
 * released migration: append a new one.
 *
 * Tables are STRICT (SQLite checks column types) and keep JSON only where a
 * record is read whole (accounts, route tables, message envelopes, attempts,
 * events, errors); what queries filter or sort on lives in its own column.
 */
import type Database from "better-sqlite3";
import { StoreError } from "../types.js";

const STAT_COLUMNS_SQL = `
  recipients INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  deferred INTEGER NOT NULL DEFAULT 0,
  bounced INTEGER NOT NULL DEFAULT 0,
  opens INTEGER NOT NULL DEFAULT 0,
  unique_opens INTEGER NOT NULL DEFAULT 0,
  clicks INTEGER NOT NULL DEFAULT 0,
  unique_clicks INTEGER NOT NULL DEFAULT 0,
  unsubscribes INTEGER NOT NULL DEFAULT 0,
  complaints INTEGER NOT NULL DEFAULT 0,
  bot_opens INTEGER NOT NULL DEFAULT 0,
  bot_clicks INTEGER NOT NULL DEFAULT 0`;

const V1 = `
CREATE TABLE accounts (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  payload TEXT NOT NULL
) STRICT;

CREATE TABLE usernames (
  username TEXT PRIMARY KEY,
  account TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX usernames_by_account ON usernames (account);

CREATE TABLE api_keys (
  account TEXT NOT NULL,
  id TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE suppressions (
  account TEXT NOT NULL,
  list TEXT NOT NULL CHECK (list IN ('bounces', 'unsubscribes', 'complaints')),
  address TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  message_id TEXT,
  PRIMARY KEY (account, list, address)
) STRICT, WITHOUT ROWID;
CREATE INDEX suppressions_by_address ON suppressions (account, address);

-- One row per (account, window, bucket start); stale buckets are deleted as new ones are counted.
CREATE TABLE send_counts (
  account TEXT NOT NULL,
  span TEXT NOT NULL CHECK (span IN ('hour', 'day', 'month')),
  bucket INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (account, span, bucket)
) STRICT, WITHOUT ROWID;

CREATE TABLE hits (
  key TEXT NOT NULL,
  window_ms INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  count INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (key, window_ms, bucket)
) STRICT, WITHOUT ROWID;
CREATE INDEX hits_by_expiry ON hits (expires_at);

CREATE TABLE transactional_groups (
  account TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account, name)
) STRICT, WITHOUT ROWID;

-- payload: the NewMessage envelope without recipients.
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  accepted_at INTEGER NOT NULL,
  group_name TEXT,
  payload TEXT NOT NULL
) STRICT;
CREATE INDEX messages_by_account ON messages (account, accepted_at DESC, id DESC);
CREATE INDEX messages_by_group ON messages (account, group_name, accepted_at DESC, id DESC);
CREATE INDEX messages_by_age ON messages (accepted_at);

CREATE TABLE recipients (
  message_id TEXT NOT NULL,
  address TEXT NOT NULL,
  position INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'deferred', 'delivered', 'bounced', 'suppressed')),
  updated_at INTEGER NOT NULL,
  last_answer TEXT,
  PRIMARY KEY (message_id, address)
) STRICT, WITHOUT ROWID;
CREATE INDEX recipients_by_address ON recipients (address, message_id);

CREATE TABLE attempts (
  message_id TEXT NOT NULL,
  address TEXT NOT NULL,
  seq INTEGER NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (message_id, address, seq)
) STRICT, WITHOUT ROWID;

-- seq: arrival order; events are listed by (at, seq), since reports can arrive late.
CREATE TABLE events (
  message_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (message_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX events_by_time ON events (message_id, at, seq);

-- The first non-bot event of each type per (message, recipient): what makes an event "unique".
CREATE TABLE event_firsts (
  message_id TEXT NOT NULL,
  address TEXT NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (message_id, address, type)
) STRICT, WITHOUT ROWID;

CREATE TABLE message_stats (
  message_id TEXT PRIMARY KEY,${STAT_COLUMNS_SQL}
) STRICT, WITHOUT ROWID;

-- hour: start of the UTC hour, in ms.
CREATE TABLE group_stats (
  account TEXT NOT NULL,
  group_name TEXT NOT NULL,
  hour INTEGER NOT NULL,${STAT_COLUMNS_SQL},
  PRIMARY KEY (account, group_name, hour)
) STRICT, WITHOUT ROWID;

-- day: start of the UTC day, in ms; key: recipient domain, country code or "00".."23".
CREATE TABLE report_stats (
  account TEXT NOT NULL,
  dimension TEXT NOT NULL CHECK (dimension IN ('domain', 'country', 'hour')),
  day INTEGER NOT NULL,
  key TEXT NOT NULL,
  opens INTEGER NOT NULL DEFAULT 0,
  unique_opens INTEGER NOT NULL DEFAULT 0,
  clicks INTEGER NOT NULL DEFAULT 0,
  unique_clicks INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account, dimension, day, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE account_errors (
  seq INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  at INTEGER NOT NULL,
  payload TEXT NOT NULL
) STRICT;
CREATE INDEX account_errors_by_time ON account_errors (account, at DESC, seq DESC);
-- How many errors each account keeps, so trimming to the cap needs no count(*).
CREATE TABLE account_error_counts (
  account TEXT PRIMARY KEY,
  kept INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE route_tables (
  name TEXT PRIMARY KEY,
  payload TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE blocked (
  sender TEXT NOT NULL,
  domain TEXT NOT NULL,
  since INTEGER NOT NULL,
  until INTEGER NOT NULL,
  reason TEXT NOT NULL,
  reported_by TEXT,
  PRIMARY KEY (sender, domain)
) STRICT, WITHOUT ROWID;
`;

/** Version 2: webhook registrations (relay/webhooks); `events` is a JSON array of event types. */
const V2 = `
CREATE TABLE webhooks (
  account TEXT NOT NULL,
  id TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  active INTEGER NOT NULL CHECK (active IN (0, 1)),
  PRIMARY KEY (account, id)
) STRICT, WITHOUT ROWID;
`;

/**
 * Version 3: the webhook outbox (relay/webhooks/README.md). `seq` (the rowid)
 * is enqueueing order, what the per-account cap drops by; `claim` is the
 * token of the claim holding a row until `due_at` (then the lease's end);
 * the counts table spares the cap a count(*) on every enqueue.
 */
const V3 = `
CREATE TABLE webhook_outbox (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  due_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  claim TEXT
) STRICT;
CREATE INDEX webhook_outbox_by_due ON webhook_outbox (due_at, id);
CREATE INDEX webhook_outbox_by_account ON webhook_outbox (account, seq);
CREATE TABLE webhook_outbox_counts (
  account TEXT PRIMARY KEY,
  outstanding INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`;

export const MIGRATIONS: readonly string[] = [V1, V2, V3];

export function migrate(sqlite: Database.Database): void {
  const current = Number(sqlite.pragma("user_version", { simple: true }));
  if (current > MIGRATIONS.length) {
    throw new StoreError(
      "invalid",
      `store.sqlite has schema version ${current}, newer than this relayfleet knows (${MIGRATIONS.length}); ` +
        "run a newer relayfleet or use another dataDir",
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    sqlite.transaction(() => {
      sqlite.exec(MIGRATIONS[version]!);
      sqlite.pragma(`user_version = ${version + 1}`);
    })();
  }
}
