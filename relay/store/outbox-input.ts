/**
 * The webhook outbox's input rules, shared by both adapters so that they
 * refuse the same things (types.ts describes the calls). Identifiers are
 * printable ASCII without spaces: the Redis adapter joins them with "\n" and
 * "|" into fields, so neither may appear in one.
 */
import { z } from "zod";
import type { NewWebhookDelivery } from "../vocabulary.js";
import { StoreError, type WebhookClaimRequest } from "./types.js";

const token = z.string().regex(/^[\x21-\x7b\x7d\x7e]{1,200}$/, "printable ASCII, no space or |");

export const outboxAccountSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[^\n|]+$/, "no newline or |");

export const newWebhookDeliverySchema = z.strictObject({
  id: token,
  webhookId: token,
  eventType: z.enum(["delivered", "deferred", "bounced", "open", "click", "unsubscribe", "complaint"]),
  body: z.string().max(1_000_000),
  createdAt: z.number().int().nonnegative(),
});

export const claimRequestSchema = z.strictObject({
  owner: token,
  now: z.number().int().nonnegative(),
  leaseMs: z.number().int().positive(),
  limit: z.number().int().min(0).max(1000),
  perWebhook: z.number().int().positive(),
  busy: z
    .array(z.strictObject({ account: outboxAccountSchema, webhookId: token, count: z.number().int().min(0) }))
    .max(10_000)
    .optional(),
  skipDelayMs: z.number().int().positive().optional(),
});

export const DEFAULT_SKIP_DELAY_MS = 1000;

/** Due deliveries a claim looks at, at most: bounded work per claim, whatever the backlog. */
export function claimScanLimit(limit: number): number {
  return Math.min(2000, Math.max(100, limit * 20));
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new StoreError("invalid", `invalid ${what}: ${z.prettifyError(result.error)}`, {
      cause: result.error,
    });
  return result.data;
}

export function checkEnqueue(
  account: unknown,
  deliveries: unknown,
  maxPerAccount: unknown,
): { account: string; deliveries: NewWebhookDelivery[]; maxPerAccount: number } {
  return {
    account: check(outboxAccountSchema, account, "outbox account"),
    deliveries: check(z.array(newWebhookDeliverySchema).max(1000), deliveries, "webhook deliveries"),
    maxPerAccount: check(z.number().int().positive(), maxPerAccount, "maxPerAccount"),
  };
}

export function checkClaimRequest(request: unknown): WebhookClaimRequest {
  return check(claimRequestSchema, request, "claim request");
}

/** The key a webhook's in-flight count is kept under, across accounts. */
export function outboxHookKey(account: string, webhookId: string): string {
  return `${account}\n${webhookId}`;
}

/**
 * The claim's choice among due candidates, oldest due first (pure; the local
 * adapter runs it, the Redis adapter's claim script does the same in Lua):
 * take each whose webhook has room, pass over (and delay) those whose
 * webhook is full, stop at `limit`.
 */
export function chooseClaims<C extends { account: string; webhookId: string }>(
  candidates: readonly C[],
  request: Pick<WebhookClaimRequest, "limit" | "perWebhook" | "busy">,
): { take: C[]; skip: C[] } {
  const counts = new Map<string, number>();
  for (const entry of request.busy ?? [])
    counts.set(outboxHookKey(entry.account, entry.webhookId), entry.count);
  const take: C[] = [];
  const skip: C[] = [];
  for (const candidate of candidates) {
    if (take.length >= request.limit) break;
    const key = outboxHookKey(candidate.account, candidate.webhookId);
    const count = counts.get(key) ?? 0;
    if (count >= request.perWebhook) {
      skip.push(candidate);
      continue;
    }
    counts.set(key, count + 1);
    take.push(candidate);
  }
  return { take, skip };
}
