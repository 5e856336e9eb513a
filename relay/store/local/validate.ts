/**
 * Validation at the adapter's two edges: input from callers, and rows read
 * back from disk. Either failure is a StoreError("invalid").
 */
import { z } from "zod";
import { StoreError } from "../types.js";

/** Validates a caller's input; `what` names it in the error. */
export function validInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new StoreError("invalid", `invalid ${what}: ${z.prettifyError(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** Validates a row or payload read back from the database. */
export function storedValue<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new StoreError("invalid", `stored ${what} is invalid: ${z.prettifyError(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** Parses and validates a JSON payload column. */
export function storedJson<S extends z.ZodType>(schema: S, text: unknown, what: string): z.output<S> {
  if (typeof text !== "string") throw new StoreError("invalid", `stored ${what} is not JSON text`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StoreError("invalid", `stored ${what} is not valid JSON`, { cause: error });
  }
  return storedValue(schema, value, what);
}

/** Optional values become SQL NULL: better-sqlite3 refuses to bind `undefined`. */
export function orNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : value;
}

/** Drops keys whose value is null or undefined, so records carry only what was set. */
export function withoutEmpty<T extends Record<string, unknown>>(record: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record))
    if (value !== null && value !== undefined) out[key] = value;
  return out as T;
}

export const timeSchema = z.number().int();
export const nameSchema = z.string().min(1).max(253);
