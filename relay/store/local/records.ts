/**
 * Schemas for the message log's records, used both on the way in (caller
 * input) and on the way out (JSON payloads read back from disk).
 */
import { z } from "zod";
import { type EventType, FINAL_STATUSES, type RecipientStatus } from "../../vocabulary.js";
import { timeSchema } from "./validate.js";

/** Free text from remote servers and clients is kept, but not without bound. */
const text = (max: number) => z.string().transform((s) => (s.length > max ? s.slice(0, max) : s));

export const addressSchema = z
  .string()
  .min(1)
  .max(512)
  .transform((a) => a.toLowerCase());

export const EVENT_TYPES = [
  "delivered",
  "deferred",
  "bounced",
  "open",
  "click",
  "unsubscribe",
  "complaint",
] as const satisfies readonly EventType[];

export const RECIPIENT_STATUSES = [
  "queued",
  "deferred",
  "delivered",
  "bounced",
  "suppressed",
] as const satisfies readonly RecipientStatus[];

export const envelopeSchema = z.object({
  id: z.string().min(1).max(256),
  account: z.string().min(1).max(253),
  from: z.string().max(512),
  subject: text(2000).optional(),
  size: z.number().int().min(0),
  group: z.string().min(1).max(256).optional(),
  acceptedAt: timeSchema,
  clientIp: z.string().max(64).optional(),
  authUser: z.string().max(256).optional(),
  messageIdHeader: text(1000).optional(),
});

export const newMessageSchema = envelopeSchema.extend({ recipients: z.array(addressSchema) });

export const attemptSchema = z.object({
  at: timeSchema,
  sender: z.string().min(1).max(253),
  sourceIp: z.string().max(64).optional(),
  remoteHost: z.string().max(253).optional(),
  outcome: z.enum(["delivered", "deferred", "bounced", "blocked"]),
  responseCode: z.number().int().min(100).max(999).optional(),
  answer: text(4000),
  durationMs: z.number().min(0).optional(),
});

export const newEventSchema = z.object({
  type: z.enum(EVENT_TYPES),
  messageId: z.string().min(1).max(256),
  recipient: addressSchema,
  at: timeSchema,
  ip: z.string().max(64).optional(),
  userAgent: text(1024).optional(),
  country: z.string().min(1).max(8).optional(),
  bot: z.boolean().optional(),
  url: z.string().max(16_384).optional(),
  linkIndex: z.number().int().min(0).optional(),
  detail: text(4000).optional(),
});

export const storedEventSchema = newEventSchema.extend({
  account: z.string(),
  group: z.string().optional(),
});

export type ValidEvent = z.output<typeof newEventSchema>;

/**
 * A recipient's status after a delivery attempt: delivered and bounced are
 * taken as they are; deferred (and blocked, which is deferred on this
 * sender) never moves a final status back.
 */
export function statusAfterAttempt(
  current: RecipientStatus,
  outcome: z.output<typeof attemptSchema>["outcome"],
): RecipientStatus {
  if (outcome === "delivered" || outcome === "bounced") return outcome;
  return FINAL_STATUSES.includes(current) ? current : "deferred";
}
