/**
 * UTC time buckets for counters and stats. Pure; every caller passes "now".
 */
import type { LimitWindow } from "../../vocabulary.js";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export function floorTo(t: number, size: number): number {
  return Math.floor(t / size) * size;
}

export function ceilTo(t: number, size: number): number {
  return Math.ceil(t / size) * size;
}

export function monthStart(t: number): number {
  const date = new Date(t);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** The start of the UTC hour, day or calendar month that contains `t`. */
export function windowStart(window: LimitWindow, t: number): number {
  switch (window) {
    case "hour":
      return floorTo(t, HOUR_MS);
    case "day":
      return floorTo(t, DAY_MS);
    case "month":
      return monthStart(t);
  }
}

/**
 * Buckets older than this are dead weight: two window lengths back (62 days
 * for months) keeps the previous window even when callers' clocks disagree a little.
 */
export function staleBefore(window: LimitWindow, t: number): number {
  const length = window === "hour" ? HOUR_MS : window === "day" ? DAY_MS : 31 * DAY_MS;
  return windowStart(window, t) - 2 * length;
}

/** "00".."23": the UTC hour of day of `t`. */
export function utcHourLabel(t: number): string {
  return String(new Date(t).getUTCHours()).padStart(2, "0");
}
