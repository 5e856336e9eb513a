/**
 * Schemas for what this adapter reads back from Redis, and the helpers that
 * turn a bad payload into StoreError("invalid"). Nothing read from Redis is
 * trusted: another writer, a bug or an operator's redis-cli may have left it.
 */
import { z } from "zod";
import { StoreError } from "../types.js";

const recipientStatus = z.enum(["queued", "deferred", "delivered", "bounced", "suppressed"]);
const eventType = z.enum(["delivered", "deferred", "bounced", "open", "click", "unsubscribe", "complaint"]);

export const suppressionEntrySchema = z.strictObject({
  address: z.string(),
  list: z.enum(["bounces", "unsubscribes", "complaints"]),
  reason: z.string(),
  at: z.number(),
  messageId: z.string().optional(),
});

export const apiKeySchema = z.strictObject({
  id: z.string().min(1),
  account: z.string().min(1),
  hash: z.string().min(1),
  createdAt: z.number(),
});

export const webhookSchema = z.strictObject({
  id: z.string().min(1).max(64),
  account: z.string().min(1).max(253),
  url: z.url({ protocol: /^https?$/ }).max(2048),
  events: z.array(eventType).min(1),
  secret: z.string().min(16).max(256),
  createdAt: z.number().int(),
  active: z.boolean(),
});

export const messageMetaSchema = z.strictObject({
  id: z.string(),
  account: z.string(),
  from: z.string(),
  subject: z.string().optional(),
  size: z.number(),
  group: z.string().optional(),
  acceptedAt: z.number(),
  clientIp: z.string().optional(),
  authUser: z.string().optional(),
  messageIdHeader: z.string().optional(),
});

export const recipientListSchema = z.array(z.string());
export const recipientStatusSchema = recipientStatus;

export const attemptSchema = z.strictObject({
  at: z.number(),
  sender: z.string(),
  sourceIp: z.string().optional(),
  remoteHost: z.string().optional(),
  outcome: z.enum(["delivered", "deferred", "bounced", "blocked"]),
  responseCode: z.number().optional(),
  answer: z.string(),
  durationMs: z.number().optional(),
});

export const newEventSchema = z.strictObject({
  type: eventType,
  messageId: z.string().min(1),
  recipient: z.string(),
  at: z.number(),
  ip: z.string().optional(),
  userAgent: z.string().optional(),
  country: z.string().optional(),
  bot: z.boolean().optional(),
  url: z.string().optional(),
  linkIndex: z.number().optional(),
  detail: z.string().optional(),
});

export const storedEventSchema = newEventSchema.extend({
  account: z.string(),
  group: z.string().optional(),
});

export const accountErrorSchema = z.strictObject({
  at: z.number(),
  code: z.string(),
  message: z.string(),
  messageId: z.string().optional(),
  recipient: z.string().optional(),
  notified: z.array(z.string()),
});

export const blockedPairSchema = z.strictObject({
  sender: z.string(),
  domain: z.string(),
  since: z.number(),
  until: z.number(),
  reason: z.string(),
  reportedBy: z.string().optional(),
});

export const storeChangeSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("account"), name: z.string() }),
  z.strictObject({ kind: z.literal("routes"), name: z.string() }),
  z.strictObject({ kind: z.literal("blocked") }),
  z.strictObject({ kind: z.literal("suppression"), account: z.string() }),
  z.strictObject({ kind: z.literal("webhooks"), account: z.string() }),
]);

/** Parses a JSON payload read from Redis; anything malformed is StoreError("invalid"). */
export function decodeStored<T>(schema: z.ZodType<T>, raw: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (cause) {
    throw new StoreError("invalid", `stored ${what} is not JSON`, { cause });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new StoreError("invalid", `stored ${what} failed validation: ${z.prettifyError(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** Validates caller input; a failure is StoreError("invalid"). */
export function checkInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new StoreError("invalid", `${what}: ${z.prettifyError(result.error)}`, { cause: result.error });
  }
  return result.data;
}

/** Drops keys whose value is undefined so that stored JSON and returned records agree. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Plain code-unit order: what SQLite's BINARY collation gives for ASCII, and stable across locales. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isFinite(limit)) throw new StoreError("invalid", "limit must be a number");
  return Math.min(1000, Math.max(1, Math.floor(limit)));
}

/** Cursors are opaque to callers: base64url JSON of a position. */
export function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position), "utf8").toString("base64url");
}

export function decodeCursor<T>(schema: z.ZodType<T>, cursor: string): T {
  try {
    return schema.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch (cause) {
    throw new StoreError("invalid", "malformed cursor", { cause });
  }
}
