/**
 * What one event adds to the counters, and the SQL column names of the
 * stats tables. The decisions are pure; events.ts applies them.
 */
import { z } from "zod";
import type { DeliveryStats, EventType, ReportDimension } from "../../vocabulary.js";
import { utcHourLabel } from "./time.js";

export type StatKey = keyof DeliveryStats;

/** DeliveryStats field → column of message_stats and group_stats. */
export const STAT_COLUMNS: Readonly<Record<StatKey, string>> = {
  recipients: "recipients",
  delivered: "delivered",
  deferred: "deferred",
  bounced: "bounced",
  opens: "opens",
  uniqueOpens: "unique_opens",
  clicks: "clicks",
  uniqueClicks: "unique_clicks",
  unsubscribes: "unsubscribes",
  complaints: "complaints",
  botOpens: "bot_opens",
  botClicks: "bot_clicks",
};
export const STAT_KEYS = Object.keys(STAT_COLUMNS) as StatKey[];
const columns = STAT_KEYS.map((key) => STAT_COLUMNS[key]);

export const statsRow = z.object(
  Object.fromEntries(columns.map((column) => [column, z.number().int().min(0)])) as Record<
    string,
    z.ZodNumber
  >,
);

export function statsFromRow(row: Record<string, number>): DeliveryStats {
  const stats = {} as DeliveryStats;
  for (const key of STAT_KEYS) stats[key] = row[STAT_COLUMNS[key]] ?? 0;
  return stats;
}

/** Values for an upsert's columns, in STAT_KEYS order. */
export function statValues(delta: Partial<DeliveryStats>): number[] {
  return STAT_KEYS.map((key) => delta[key] ?? 0);
}

export function isEmptyDelta(delta: Partial<DeliveryStats>): boolean {
  return STAT_KEYS.every((key) => (delta[key] ?? 0) === 0);
}

/** `INSERT ... ON CONFLICT DO UPDATE` adding a delta to one stats row of `table`. */
export function statsUpsertSql(table: string, keyColumns: readonly string[]): string {
  const all = [...keyColumns, ...columns];
  return `INSERT INTO ${table} (${all.join(", ")}) VALUES (${all.map(() => "?").join(", ")})
    ON CONFLICT (${keyColumns.join(", ")}) DO UPDATE SET ${columns.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`;
}

/** `SELECT` summing every stats column over the rows of `table` matching `where`. */
export function statsSumSql(table: string, where: string): string {
  return `SELECT ${columns.map((c) => `coalesce(sum(${c}), 0) AS ${c}`).join(", ")} FROM ${table} WHERE ${where}`;
}

/**
 * What an event adds to DeliveryStats. Opens and clicks always count (bots
 * apart); every other type counts a recipient once, on its first non-bot
 * event of that type (`unique`).
 */
export function eventDelta(type: EventType, bot: boolean, unique: boolean): Partial<DeliveryStats> {
  switch (type) {
    case "open":
      return bot ? { botOpens: 1 } : { opens: 1, uniqueOpens: unique ? 1 : 0 };
    case "click":
      return bot ? { botClicks: 1 } : { clicks: 1, uniqueClicks: unique ? 1 : 0 };
    case "delivered":
    case "deferred":
    case "bounced":
      return unique ? { [type]: 1 } : {};
    case "unsubscribe":
      return unique ? { unsubscribes: 1 } : {};
    case "complaint":
      return unique ? { complaints: 1 } : {};
  }
}

export interface ReportDelta {
  opens: number;
  uniqueOpens: number;
  clicks: number;
  uniqueClicks: number;
}

/** Reports count engagement only: non-bot opens and clicks. */
export function reportDelta(type: EventType, bot: boolean, unique: boolean): ReportDelta | undefined {
  if (bot) return undefined;
  if (type === "open") return { opens: 1, uniqueOpens: unique ? 1 : 0, clicks: 0, uniqueClicks: 0 };
  if (type === "click") return { opens: 0, uniqueOpens: 0, clicks: 1, uniqueClicks: unique ? 1 : 0 };
  return undefined;
}

/** The report keys an event falls under: recipient domain, country ("??" when unknown), UTC hour. */
export function reportKeys(
  recipient: string,
  country: string | undefined,
  at: number,
): Record<ReportDimension, string> {
  const atSign = recipient.lastIndexOf("@");
  const domain = atSign === -1 ? "" : recipient.slice(atSign + 1).toLowerCase();
  return {
    domain: domain === "" ? "??" : domain,
    country: country ? country.toUpperCase() : "??",
    hour: utcHourLabel(at),
  };
}
