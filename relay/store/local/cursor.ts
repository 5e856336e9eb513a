/**
 * Opaque page cursors: the sort key of the last item returned, as base64url
 * JSON. Callers must not read them; a tampered cursor is StoreError("invalid").
 */
import type { z } from "zod";
import { type Page, StoreError } from "../types.js";
import { storedValue } from "./validate.js";

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch (error) {
    throw new StoreError("invalid", "invalid cursor", { cause: error });
  }
  try {
    return storedValue(schema, value, "cursor");
  } catch (error) {
    throw new StoreError("invalid", "invalid cursor", { cause: error });
  }
}

/** Default 100, at most 1000; anything but a positive integer is invalid. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new StoreError("invalid", `invalid page limit ${limit}`);
  return Math.min(limit, MAX_PAGE);
}

/**
 * Turns `limit + 1` fetched rows into a page: the extra row only tells that
 * there is more, and the cursor is the key of the last row kept.
 */
export function toPage<R, T>(
  rows: readonly R[],
  limit: number,
  toItem: (row: R) => T,
  keyOf: (row: R) => readonly (string | number)[],
): Page<T> {
  const kept = rows.slice(0, limit);
  const items = kept.map(toItem);
  const last = kept.at(-1);
  return rows.length > limit && last !== undefined
    ? { items, nextCursor: encodeCursor(keyOf(last)) }
    : { items };
}
