/**
 * The API's bodies and answers as zod schemas: request bodies are validated
 * with them, and the OpenAPI document is generated from them (tests then
 * check real answers against that document).
 */
import { z } from "zod";
import type { Account } from "../accounts/schema.js";
import { accountInputSchema, accountSchema, dkimKeySchema } from "../accounts/schema.js";
import { GROUP_NAME_PATTERN, GROUP_NAME_RULE } from "../vocabulary.js";

const time = z.number().int().describe("milliseconds since the epoch (UTC)");

/** What an account looks like from outside: no password hashes, no DKIM private keys. */
export const accountViewSchema = accountSchema.omit({ credentials: true, dkim: true }).extend({
  credentials: z.array(z.object({ username: z.string() })),
  dkim: z.array(dkimKeySchema.omit({ privateKey: true })),
});
export type AccountView = z.output<typeof accountViewSchema>;

export function accountView(account: Account): AccountView {
  const { credentials, dkim, ...rest } = account;
  return {
    ...rest,
    credentials: credentials.map((c) => ({ username: c.username })),
    dkim: dkim.map(({ privateKey: _secret, ...key }) => key),
  };
}

/** PUT body: a whole account; `name` may be left out (the path names it). */
export const accountPutSchema = accountInputSchema.extend({ name: accountInputSchema.shape.name.optional() });

/**
 * PATCH body: any top-level settings (JSON merge patch, RFC 7396: objects merge,
 * null resets a field to its default). `credentials` replaces all credentials.
 */
export const accountPatchSchema = z
  .record(z.string(), z.unknown())
  .describe("JSON merge patch of the account");

export const apiKeySchema = z.object({
  id: z.string(),
  account: z.string(),
  key: z.string().describe("shown once; only its hash is kept"),
  createdAt: time,
});

export const groupBodySchema = z.strictObject({
  name: z.string().regex(GROUP_NAME_PATTERN, GROUP_NAME_RULE),
});
export const groupSchema = z.object({ name: z.string(), createdAt: time });

export const recipientStatusSchema = z.enum(["queued", "deferred", "delivered", "bounced", "suppressed"]);
export const eventTypeSchema = z.enum([
  "delivered",
  "deferred",
  "bounced",
  "open",
  "click",
  "unsubscribe",
  "complaint",
]);

const messageBase = {
  id: z.string(),
  account: z.string(),
  from: z.string(),
  subject: z.string().optional(),
  size: z.number().int(),
  group: z.string().optional(),
  acceptedAt: time,
  clientIp: z.string().optional(),
  authUser: z.string().optional(),
  messageIdHeader: z.string().optional(),
};

export const messageSummarySchema = z.object({
  ...messageBase,
  recipients: z.array(z.object({ address: z.string(), status: recipientStatusSchema })),
});

export const attemptSchema = z.object({
  at: time,
  sender: z.string(),
  sourceIp: z.string().optional(),
  remoteHost: z.string().optional(),
  outcome: z.enum(["delivered", "deferred", "bounced", "blocked"]),
  responseCode: z.number().int().optional(),
  answer: z.string(),
  durationMs: z.number().optional(),
});

export const eventSchema = z.object({
  type: eventTypeSchema,
  messageId: z.string(),
  recipient: z.string(),
  at: time,
  ip: z.string().optional(),
  userAgent: z.string().optional(),
  country: z.string().optional(),
  bot: z.boolean().optional(),
  url: z.string().optional(),
  linkIndex: z.number().int().optional(),
  detail: z.string().optional(),
  account: z.string(),
  group: z.string().optional(),
});

export const messageRecordSchema = z.object({
  ...messageBase,
  recipients: z.array(
    z.object({
      address: z.string(),
      status: recipientStatusSchema,
      updatedAt: time,
      lastAnswer: z.string().optional(),
      attempts: z.array(attemptSchema),
    }),
  ),
  events: z.array(eventSchema),
});

const count = z.number().int().min(0);
export const statsSchema = z.object({
  recipients: count,
  delivered: count,
  deferred: count,
  bounced: count,
  opens: count.describe("non-bot opens"),
  uniqueOpens: count,
  clicks: count.describe("non-bot clicks"),
  uniqueClicks: count,
  unsubscribes: count,
  complaints: count,
  botOpens: count.describe("opens flagged as prefetch, proxy or scanner"),
  botClicks: count,
});
export const STATS_COLUMNS = Object.keys(statsSchema.shape);

export const suppressionListSchema = z.enum(["bounces", "unsubscribes", "complaints"]);
export const suppressionSchema = z.object({
  address: z.string(),
  list: suppressionListSchema,
  reason: z.string(),
  at: time,
  messageId: z.string().optional(),
});

/** An address as given in a path or a body: one "@", no spaces or control characters. */
export const addressSchema = z
  .string()
  .max(320)
  .regex(/^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u, "an email address such as someone@example.org");

export const suppressionBodySchema = z.strictObject({ reason: z.string().max(500).optional() }).optional();
export const bulkSuppressionBodySchema = z.strictObject({
  addresses: z.array(addressSchema).min(1).max(1000),
  reason: z.string().max(500).optional(),
});

export const errorRecordSchema = z.object({
  at: time,
  code: z.string(),
  message: z.string(),
  messageId: z.string().optional(),
  recipient: z.string().optional(),
  notified: z.array(z.string()),
});

export const reportRowSchema = z.object({
  key: z.string().describe("recipient domain, country code (?? when unknown) or UTC hour 00-23"),
  opens: count,
  uniqueOpens: count,
  clicks: count,
  uniqueClicks: count,
});

/** POST body of a webhook: where, and which events. */
export const webhookBodySchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: "an http:// or https:// URL" })
    .max(2048)
    .describe(
      "where events are POSTed; private and loopback addresses are refused unless the relay allows them",
    ),
  events: z
    .array(eventTypeSchema)
    .min(1, "at least one event type")
    .max(eventTypeSchema.options.length)
    .describe("event types to send"),
  active: z.boolean().optional().describe("false: registered but sent nothing (default true)"),
});

/** A webhook as listed: never its secret. */
export const webhookViewSchema = z.object({
  id: z.string(),
  account: z.string(),
  url: z.string(),
  events: z.array(eventTypeSchema),
  active: z.boolean(),
  createdAt: time,
});

export const webhookCreatedSchema = webhookViewSchema.extend({
  secret: z
    .string()
    .describe(
      "HMAC-SHA256 key of the X-Relayfleet-Signature header (t=TIMESTAMP,v1=HEX over TIMESTAMP.BODY); shown once",
    ),
});

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().optional() });
}

export const errorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});
