/**
 * Webhook registrations: one hash per account, {a:NAME}:webhooks, id → JSON.
 * Every change touches that one key, so plain commands are atomic and no
 * script is needed.
 */
import type { WebhookRecord } from "../../vocabulary.js";
import { byCodeUnit, checkInput, decodeStored, webhookSchema } from "./codecs.js";
import type { RedisContext } from "./context.js";

export async function putWebhook(ctx: RedisContext, input: WebhookRecord): Promise<void> {
  const webhook = checkInput(webhookSchema, input, "webhook");
  await ctx.client.hset(ctx.keys.webhooks(webhook.account), webhook.id, JSON.stringify(webhook));
  await ctx.notify({ kind: "webhooks", account: webhook.account });
}

export async function listWebhooks(ctx: RedisContext, account: string): Promise<WebhookRecord[]> {
  const stored = await ctx.client.hvals(ctx.keys.webhooks(account));
  return stored
    .map((json) => decodeStored(webhookSchema, json, "webhook"))
    .sort((a, b) => a.createdAt - b.createdAt || byCodeUnit(a.id, b.id));
}

export async function deleteWebhook(ctx: RedisContext, account: string, id: string): Promise<boolean> {
  const removed = (await ctx.client.hdel(ctx.keys.webhooks(account), id)) === 1;
  if (removed) await ctx.notify({ kind: "webhooks", account });
  return removed;
}

/** deleteAccount's second step (another slot than {accounts}); see accounts.ts. */
export async function deleteAllWebhooks(ctx: RedisContext, account: string): Promise<void> {
  if ((await ctx.client.del(ctx.keys.webhooks(account))) > 0) await ctx.notify({ kind: "webhooks", account });
}
