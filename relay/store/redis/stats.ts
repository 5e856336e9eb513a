/**
 * Events and the three kinds of stats built from them:
 * - per message: exact, decided in one script on the message's slot;
 * - per group and UTC hour, and per account and UTC day (engagement reports):
 *   aggregates on the account's slot.
 *
 * Why two steps are safe: a message's slot ({m:ID}) and its account's slot
 * ({a:NAME}) differ, so one script cannot touch both. The message script is
 * the only place that decides what an event counts as (unique or not, bot or
 * not); it returns the increments, and the account script only adds them.
 * Additions commute, so concurrent events on many relays cannot corrupt the
 * aggregates; a crash between the two steps loses at most that one event's
 * increments from the aggregates (never double counts), while the message's
 * own stats stay exact.
 */
import { z } from "zod";
import {
  type DeliveryStats,
  EMPTY_STATS,
  type NewEvent,
  type ReportDimension,
  type ReportRow,
} from "../../vocabulary.js";
import { type EventResult, StoreError, type TimeRange } from "../types.js";
import { checkInput, compact, newEventSchema } from "./codecs.js";
import { execResults } from "./connection.js";
import { AGGREGATE_TTL_MS, type RedisContext } from "./context.js";
import { DAY_MS, dayIndex, HOUR_MS, hourIndex } from "./keys.js";
import { replyArray, replyNumber, replyString, type ScriptReply } from "./scripts.js";

/** Events kept per message: a hostile clicker cannot grow a message without bound. Counts go on. */
export const MAX_EVENTS_PER_MESSAGE = 1_000;

const STATS_FIELDS = Object.keys(EMPTY_STATS) as (keyof DeliveryStats)[];
const statsFieldSchema = z.enum(STATS_FIELDS as [keyof DeliveryStats, ...(keyof DeliveryStats)[]]);
const RETENTION_HOURS = Math.ceil(AGGREGATE_TTL_MS / HOUR_MS);
const RETENTION_DAYS = Math.ceil(AGGREGATE_TTL_MS / DAY_MS);

export type StatusMove = { status: string; when: "always" | "unless-final" | "unless-bounced" };

export interface EventWrite {
  event: NewEvent;
  move?: StatusMove;
  lastAnswer?: string;
  attemptJson?: string;
  /** Do nothing unless the recipient is one of the message's. */
  requireRecipient: boolean;
}

/** What an event counts as in the per-account engagement report. */
export function reportIncrements(
  event: Pick<NewEvent, "type" | "recipient" | "country" | "at" | "bot">,
  unique: boolean,
): [string, number][] {
  if (event.bot || (event.type !== "open" && event.type !== "click")) return [];
  const metrics = event.type === "open" ? ["opens", "uniqueOpens"] : ["clicks", "uniqueClicks"];
  const counted = unique ? metrics : metrics.slice(0, 1);
  const at = event.recipient.lastIndexOf("@");
  const domain = at === -1 ? "??" : event.recipient.slice(at + 1).toLowerCase();
  const country = event.country ? event.country.toUpperCase() : "??";
  const hour = String(new Date(event.at).getUTCHours()).padStart(2, "0");
  const increments: [string, number][] = [];
  for (const [dimension, key] of [
    ["domain", domain],
    ["country", country],
    ["hour", hour],
  ]) {
    for (const metric of counted) increments.push([`${dimension}|${key}|${metric}`, 1]);
  }
  return increments;
}

export async function addAggregates(
  ctx: RedisContext,
  account: string,
  group: string,
  at: number,
  groupIncrements: [string, number][],
  reportIncrementsList: [string, number][],
): Promise<void> {
  const groupPart = group === "" ? [] : groupIncrements;
  if (groupPart.length === 0 && reportIncrementsList.length === 0) return;
  const hour = hourIndex(at);
  const day = dayIndex(at);
  await ctx.scripts.run(
    "addAggregates",
    [
      ctx.keys.groupHour(account, group, hour),
      ctx.keys.groupHours(account, group),
      ctx.keys.reportDay(account, day),
      ctx.keys.reportDays(account),
    ],
    [
      hour,
      day,
      // Relative to the event's time, so a caller's clock never expires a live bucket early.
      Math.max(1, (hour + 1) * HOUR_MS - at + AGGREGATE_TTL_MS),
      Math.max(1, (day + 1) * DAY_MS - at + AGGREGATE_TTL_MS),
      AGGREGATE_TTL_MS,
      RETENTION_HOURS,
      RETENTION_DAYS,
      groupPart.length,
      ...groupPart.flat(),
      ...reportIncrementsList.flat(),
    ],
  );
}

/** Runs the message-slot script, then adds its increments to the account's aggregates. */
export async function writeEvent(ctx: RedisContext, write: EventWrite): Promise<EventResult> {
  const { event } = write;
  const id = event.messageId;
  const reply: ScriptReply[] = replyArray(
    await ctx.scripts.run(
      "recordEvent",
      [
        ctx.keys.message(id),
        ctx.keys.messageStats(id),
        ctx.keys.messageEvents(id),
        ctx.keys.messageUnique(id),
      ],
      [
        event.recipient,
        event.type,
        event.bot ? "1" : "0",
        JSON.stringify(event),
        event.at,
        write.move?.status ?? "",
        write.move?.when ?? "always",
        write.lastAnswer ?? "",
        write.attemptJson ?? "",
        write.requireRecipient ? "1" : "0",
        MAX_EVENTS_PER_MESSAGE,
      ],
    ),
  );
  if (replyNumber(reply[0]) !== 1) return { recorded: false, unique: false };
  const unique = replyNumber(reply[1]) === 1;
  const account = replyString(reply[2]);
  const group = replyString(reply[3]);
  const fields = reply.slice(4).map((f) => {
    const field = statsFieldSchema.safeParse(replyString(f));
    if (!field.success)
      throw new StoreError("invalid", `recordEvent returned unknown stats field ${String(f)}`);
    return field.data;
  });
  await addAggregates(
    ctx,
    account,
    group,
    event.at,
    fields.map((f) => [f, 1]),
    reportIncrements(event, unique),
  );
  return { recorded: true, unique, event: compact({ ...event, account, group: group || undefined }) };
}

/** A bounce report overrides delivered; a delivered report does not override a bounce. */
export function statusMoveForEvent(type: NewEvent["type"]): StatusMove | undefined {
  if (type === "bounced") return { status: "bounced", when: "always" };
  if (type === "delivered") return { status: "delivered", when: "unless-bounced" };
  return undefined;
}

export async function recordEvent(ctx: RedisContext, input: NewEvent): Promise<EventResult> {
  const parsed = checkInput(newEventSchema, compact(input), "event");
  const event: NewEvent = { ...parsed, recipient: parsed.recipient.toLowerCase() };
  return writeEvent(ctx, {
    event,
    move: statusMoveForEvent(event.type),
    lastAnswer: event.detail,
    requireRecipient: false,
  });
}

function toStats(hash: Record<string, string>, into: DeliveryStats = { ...EMPTY_STATS }): DeliveryStats {
  for (const field of STATS_FIELDS) {
    const raw = hash[field];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isInteger(value))
      throw new StoreError("invalid", `stored stats field ${field} is not a number`);
    into[field] += value;
  }
  return into;
}

export async function getMessageStats(ctx: RedisContext, id: string): Promise<DeliveryStats | undefined> {
  const [exists, stats] = await ctx.client
    .multi()
    .exists(ctx.keys.message(id))
    .hgetall(ctx.keys.messageStats(id))
    .exec()
    .then(execResults);
  if (exists !== 1) return undefined;
  return toStats((stats ?? {}) as Record<string, string>);
}

/** The bucket indexes in [floor(since), ceil(until)) of `unit`, as a ZRANGEBYSCORE range. */
export function bucketRange(range: TimeRange, unitMs: number): [string, string] {
  const min = range.since === undefined ? "-inf" : String(Math.floor(range.since / unitMs));
  const max = range.until === undefined ? "+inf" : `(${Math.ceil(range.until / unitMs)}`;
  return [min, max];
}

async function readBuckets(
  ctx: RedisContext,
  indexKey: string,
  bucketKey: (index: number) => string,
  range: [string, string],
): Promise<Record<string, string>[]> {
  const indexes = await ctx.client.zrangebyscore(indexKey, range[0], range[1]);
  if (indexes.length === 0) return [];
  const multi = ctx.client.multi();
  for (const index of indexes) multi.hgetall(bucketKey(Number(index)));
  return (execResults(await multi.exec()) as Record<string, string>[]).map((h) => h ?? {});
}

export async function getGroupStats(
  ctx: RedisContext,
  account: string,
  group: string,
  range: TimeRange = {},
): Promise<DeliveryStats> {
  const buckets = await readBuckets(
    ctx,
    ctx.keys.groupHours(account, group),
    (hour) => ctx.keys.groupHour(account, group, hour),
    bucketRange(range, HOUR_MS),
  );
  const total = { ...EMPTY_STATS };
  for (const bucket of buckets) toStats(bucket, total);
  return total;
}

export async function getReport(
  ctx: RedisContext,
  account: string,
  dimension: ReportDimension,
  range: TimeRange = {},
): Promise<ReportRow[]> {
  const buckets = await readBuckets(
    ctx,
    ctx.keys.reportDays(account),
    (day) => ctx.keys.reportDay(account, day),
    bucketRange(range, DAY_MS),
  );
  const rows = new Map<string, ReportRow>();
  for (const bucket of buckets) {
    for (const [field, raw] of Object.entries(bucket)) {
      const first = field.indexOf("|");
      const last = field.lastIndexOf("|");
      if (field.slice(0, first) !== dimension) continue;
      const key = field.slice(first + 1, last);
      const metric = field.slice(last + 1);
      if (
        metric !== "opens" &&
        metric !== "uniqueOpens" &&
        metric !== "clicks" &&
        metric !== "uniqueClicks"
      ) {
        throw new StoreError("invalid", `stored report field ${field} is not a known metric`);
      }
      const value = Number(raw);
      if (!Number.isInteger(value))
        throw new StoreError("invalid", `stored report field ${field} is not a number`);
      const row = rows.get(key) ?? { key, opens: 0, uniqueOpens: 0, clicks: 0, uniqueClicks: 0 };
      row[metric] += value;
      rows.set(key, row);
    }
  }
  return [...rows.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
