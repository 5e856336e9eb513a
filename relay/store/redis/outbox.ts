/**
 * The webhook outbox in Redis (types.ts describes the calls; keys.ts the
 * {outbox} keys; scripts/outbox*.lua the atomic steps). The whole outbox is
 * one Cluster slot: a claim picks the oldest due deliveries of every account
 * in one script. Webhook traffic is a small part of a fleet's; the cap per
 * account bounds what the slot holds.
 */
import { z } from "zod";
import type { WebhookDelivery } from "../../vocabulary.js";
import {
  checkClaimRequest,
  checkEnqueue,
  claimScanLimit,
  DEFAULT_SKIP_DELAY_MS,
  outboxAccountSchema,
  outboxHookKey,
} from "../outbox-input.js";
import { StoreError } from "../types.js";
import { decodeStored } from "./codecs.js";
import type { RedisContext } from "./context.js";
import { replyArray, replyNumber, replyString } from "./scripts.js";

const storedDeliverySchema = z.strictObject({
  id: z.string(),
  account: z.string(),
  webhookId: z.string(),
  eventType: z.enum(["delivered", "deferred", "bounced", "open", "click", "unsubscribe", "complaint"]),
  body: z.string(),
  createdAt: z.number().int(),
});

function outboxKeys(ctx: RedisContext) {
  const { keys } = ctx;
  return [keys.outboxDue, keys.outboxEntries, keys.outboxHook, keys.outboxState] as const;
}

export async function enqueueWebhookDeliveries(
  ctx: RedisContext,
  accountInput: string,
  deliveriesInput: readonly unknown[],
  maxInput: number,
): Promise<{ dropped: number }> {
  const { account, deliveries, maxPerAccount } = checkEnqueue(accountInput, deliveriesInput, maxInput);
  if (deliveries.length === 0) return { dropped: 0 };
  const args: (string | number)[] = [maxPerAccount, `${account}\n`];
  for (const delivery of deliveries)
    args.push(delivery.id, delivery.webhookId, delivery.createdAt, JSON.stringify({ ...delivery, account }));
  const reply = replyArray(
    await ctx.scripts.run(
      "outboxEnqueue",
      [...outboxKeys(ctx), ctx.keys.outboxSeq, ctx.keys.outboxOf(account)],
      args,
    ),
  );
  return { dropped: replyNumber(reply[1]) };
}

export async function claimWebhookDeliveries(ctx: RedisContext, input: unknown): Promise<WebhookDelivery[]> {
  const request = checkClaimRequest(input);
  if (request.limit === 0) return [];
  const args: (string | number)[] = [
    request.now,
    request.now + request.leaseMs,
    request.owner,
    request.limit,
    request.perWebhook,
    claimScanLimit(request.limit),
    request.now + (request.skipDelayMs ?? DEFAULT_SKIP_DELAY_MS),
  ];
  for (const entry of request.busy ?? [])
    args.push(outboxHookKey(entry.account, entry.webhookId), entry.count);
  const reply = replyArray(await ctx.scripts.run("outboxClaim", outboxKeys(ctx), args));
  return reply.map((item) => {
    const [json, attempts, claim, reclaimed] = replyArray(item);
    const stored = decodeStored(storedDeliverySchema, replyString(json), "outbox delivery");
    return {
      ...stored,
      attempts: replyNumber(attempts),
      claim: replyString(claim),
      reclaimed: replyNumber(reclaimed) === 1,
    };
  });
}

export async function finishWebhookDelivery(
  ctx: RedisContext,
  delivery: { id: string; account: string; claim: string },
): Promise<boolean> {
  const account = outboxAccountSchema.safeParse(delivery.account);
  if (!account.success || typeof delivery.id !== "string" || typeof delivery.claim !== "string")
    throw new StoreError("invalid", "invalid delivery to finish");
  const reply = await ctx.scripts.run(
    "outboxFinish",
    [...outboxKeys(ctx), ctx.keys.outboxOf(account.data)],
    [delivery.id, delivery.claim],
  );
  return replyNumber(reply) === 1;
}

export async function retryWebhookDelivery(
  ctx: RedisContext,
  delivery: { id: string; claim: string },
  dueAt: number,
): Promise<boolean> {
  if (typeof delivery.id !== "string" || typeof delivery.claim !== "string" || !Number.isInteger(dueAt))
    throw new StoreError("invalid", "invalid delivery to retry");
  const reply = await ctx.scripts.run(
    "outboxRetry",
    [ctx.keys.outboxDue, ctx.keys.outboxState],
    [delivery.id, delivery.claim, dueAt],
  );
  return replyNumber(reply) === 1;
}

export async function countWebhookDeliveries(ctx: RedisContext, account?: string): Promise<number> {
  if (account === undefined) return ctx.client.hlen(ctx.keys.outboxEntries);
  return ctx.client.zcard(ctx.keys.outboxOf(account));
}

/** deleteAccount's outbox step (the {outbox} slot); see accounts.ts. */
export async function deleteAccountDeliveries(ctx: RedisContext, account: string): Promise<void> {
  await ctx.scripts.run("outboxDeleteAccount", [...outboxKeys(ctx), ctx.keys.outboxOf(account)], []);
}
