/**
 * Tracking and delivery events, and the stats they feed.
 *
 * An event is logged under its message, up to a cap: tracking events
 * (open, click, unsubscribe, complaint) stop being logged once the message
 * holds `maxEventsPerMessage` events, delivery events at twice that, so a
 * much-opened message keeps its delivery history (the Redis adapter keeps
 * the same rule). It marks the first non-bot event of its type per recipient
 * (`event_firsts`: what "unique" means), and adds to three sets of counters
 * in the same transaction: the message's, its group's UTC hour, and the
 * account's UTC day per report key. Counters outlive the capped event log.
 */
import { z } from "zod";
import {
  type DeliveryStats,
  EMPTY_STATS,
  type EventType,
  type ReportDimension,
  type ReportRow,
} from "../../vocabulary.js";
import type { EventResult, Store, TimeRange } from "../types.js";
import type { LocalContext } from "./context.js";
import type { LocalDb } from "./db.js";
import { newEventSchema, type ValidEvent } from "./records.js";
import {
  eventDelta,
  isEmptyDelta,
  reportDelta,
  reportKeys,
  statsFromRow,
  statsRow,
  statsSumSql,
  statsUpsertSql,
  statValues,
} from "./stats.js";
import { ceilTo, DAY_MS, floorTo, HOUR_MS } from "./time.js";
import { storedValue, timeSchema, validInput, withoutEmpty } from "./validate.js";

type EventOps = Pick<Store, "recordEvent" | "getMessageStats" | "getGroupStats" | "getReport">;

/** The parts of a logged message an event needs. */
export interface MessageRef {
  id: string;
  account: string;
  group?: string;
}

const messageRefRow = z.object({ id: z.string(), account: z.string(), group_name: z.string().nullable() });
const seqRow = z.object({ seq: z.number().int() });
const reportRow = z.object({
  key: z.string(),
  opens: z.number().int(),
  unique_opens: z.number().int(),
  clicks: z.number().int(),
  unique_clicks: z.number().int(),
});
const dimensionSchema = z.enum(["domain", "country", "hour"]);
const rangeSchema = z.object({ since: timeSchema.optional(), until: timeSchema.optional() });

const MESSAGE_STATS_UPSERT = statsUpsertSql("message_stats", ["message_id"]);
const GROUP_STATS_UPSERT = statsUpsertSql("group_stats", ["account", "group_name", "hour"]);
const REPORT_UPSERT = `INSERT INTO report_stats (account, dimension, day, key, opens, unique_opens, clicks, unique_clicks)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (account, dimension, day, key) DO UPDATE SET opens = opens + excluded.opens,
    unique_opens = unique_opens + excluded.unique_opens, clicks = clicks + excluded.clicks,
    unique_clicks = unique_clicks + excluded.unique_clicks`;
const DIMENSIONS: readonly ReportDimension[] = ["domain", "country", "hour"];

export function findMessageRef(db: LocalDb, id: string): MessageRef | undefined {
  const row = db.sql("SELECT id, account, group_name FROM messages WHERE id = ?").get(id);
  if (row === undefined) return undefined;
  const stored = storedValue(messageRefRow, row, "message row");
  return withoutEmpty({ id: stored.id, account: stored.account, group: stored.group_name ?? undefined });
}

/** Adds `delta` to the message's counters and, when it has a group, to the group's hour containing `at`. */
export function addToStats(
  db: LocalDb,
  message: MessageRef,
  at: number,
  delta: Partial<DeliveryStats>,
): void {
  if (isEmptyDelta(delta)) return;
  const values = statValues(delta);
  db.sql(MESSAGE_STATS_UPSERT).run(message.id, ...values);
  if (message.group !== undefined)
    db.sql(GROUP_STATS_UPSERT).run(message.account, message.group, floorTo(at, HOUR_MS), ...values);
}

/**
 * Records a validated event for a known message. Call inside a write
 * transaction. Returns whether it was the first non-bot one of its type, and
 * the event as stored.
 */
export function applyEvent(
  db: LocalDb,
  maxEventsPerMessage: number,
  event: ValidEvent,
  message: MessageRef,
): EventResult & { recorded: true } {
  const last = storedValue(
    seqRow,
    db.sql("SELECT coalesce(max(seq), 0) AS seq FROM events WHERE message_id = ?").get(message.id),
    "event sequence",
  );
  const stored = withoutEmpty({ ...event, account: message.account, group: message.group });
  // Events are never deleted from a live message, so the last seq is the number logged.
  const cap = isDeliveryEvent(event.type) ? 2 * maxEventsPerMessage : maxEventsPerMessage;
  if (last.seq < cap)
    db.sql("INSERT INTO events (message_id, seq, at, payload) VALUES (?, ?, ?, ?)").run(
      message.id,
      last.seq + 1,
      event.at,
      JSON.stringify(stored),
    );

  const bot = event.bot === true;
  const unique =
    !bot &&
    db
      .sql("INSERT INTO event_firsts (message_id, address, type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
      .run(message.id, event.recipient, event.type).changes > 0;

  addToStats(db, message, event.at, eventDelta(event.type, bot, unique));

  const report = reportDelta(event.type, bot, unique);
  if (report !== undefined) {
    const keys = reportKeys(event.recipient, event.country, event.at);
    const day = floorTo(event.at, DAY_MS);
    for (const dimension of DIMENSIONS)
      db.sql(REPORT_UPSERT).run(
        message.account,
        dimension,
        day,
        keys[dimension],
        report.opens,
        report.uniqueOpens,
        report.clicks,
        report.uniqueClicks,
      );
  }

  if (event.type === "delivered" || event.type === "bounced") {
    // A later report wins: a bounce that comes back after delivery turns the recipient bounced.
    db.sql(
      `UPDATE recipients SET status = ?, updated_at = ?, last_answer = coalesce(?, last_answer)
       WHERE message_id = ? AND address = ?`,
    ).run(event.type, event.at, event.detail ?? null, message.id, event.recipient);
  }
  return { recorded: true, unique, event: stored };
}

function isDeliveryEvent(type: EventType): boolean {
  return type === "delivered" || type === "deferred" || type === "bounced";
}

/** Bucket bounds for a range: `since` rounds down and `until` rounds up to whole buckets. */
function bucketBounds(range: TimeRange, size: number): { from: number | null; to: number | null } {
  return {
    from: range.since === undefined ? null : floorTo(range.since, size),
    to: range.until === undefined ? null : ceilTo(range.until, size),
  };
}

export function eventOps({ db }: LocalContext, maxEventsPerMessage: number): EventOps {
  return {
    async recordEvent(input): Promise<EventResult> {
      const event = validInput(newEventSchema, input, "event");
      return db.writeSoon(() => {
        // types.ts: "recorded" is false only for an unknown message. An event for an address
        // the message was not sent to is logged and counted (tokens are signed, so it is rare),
        // but moves no status, as there is no recipient row to move.
        const message = findMessageRef(db, event.messageId);
        if (message === undefined) return { recorded: false, unique: false };
        return applyEvent(db, maxEventsPerMessage, event, message);
      });
    },

    async getMessageStats(messageId) {
      return db.read(() => {
        if (findMessageRef(db, messageId) === undefined) return undefined;
        const row = db.sql(statsSumSql("message_stats", "message_id = ?")).get(messageId);
        return row === undefined
          ? { ...EMPTY_STATS }
          : statsFromRow(storedValue(statsRow, row, "message stats"));
      });
    },

    async getGroupStats(account, group, rangeInput = {}) {
      const range = validInput(rangeSchema, rangeInput, "time range");
      const { from, to } = bucketBounds(range, HOUR_MS);
      return db.read(() => {
        const row = db
          .sql(
            statsSumSql(
              "group_stats",
              `account = @account AND group_name = @group
               AND (@from IS NULL OR hour >= @from) AND (@to IS NULL OR hour < @to)`,
            ),
          )
          .get({ account, group, from, to });
        return statsFromRow(storedValue(statsRow, row, "group stats"));
      });
    },

    async getReport(account, dimensionInput, rangeInput = {}) {
      const dimension = validInput(dimensionSchema, dimensionInput, "report dimension");
      const range = validInput(rangeSchema, rangeInput, "time range");
      const { from, to } = bucketBounds(range, DAY_MS);
      return db.read(() =>
        db
          .sql(
            `SELECT key, sum(opens) AS opens, sum(unique_opens) AS unique_opens,
               sum(clicks) AS clicks, sum(unique_clicks) AS unique_clicks
             FROM report_stats
             WHERE account = @account AND dimension = @dimension
               AND (@from IS NULL OR day >= @from) AND (@to IS NULL OR day < @to)
             GROUP BY key ORDER BY key`,
          )
          .all({ account, dimension, from, to })
          .map((row): ReportRow => {
            const r = storedValue(reportRow, row, "report row");
            return {
              key: r.key,
              opens: r.opens,
              uniqueOpens: r.unique_opens,
              clicks: r.clicks,
              uniqueClicks: r.unique_clicks,
            };
          }),
      );
    },
  };
}
