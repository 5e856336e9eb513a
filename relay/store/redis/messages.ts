/**
 * The message log. One message is a hash on its own slot ({m:ID}) with its
 * events, stats and unique set beside it; listing goes through a per-account
 * sorted set by acceptedAt ({a:NAME}) and purging through a fleet-wide one
 * ({log}).
 *
 * recordMessage spans three slots, in an order that makes a retry repair a
 * crash: (1) the message itself, atomically and only once (idempotent by
 * id); (2) the fleet-wide index, (3) the account index: both ZADDs are
 * idempotent and run on every call, so a retry after a crash between steps
 * completes the indexes. Group recipient counts are added only by the call
 * that created the message, so a retry never counts twice. Keys expire after
 * MESSAGE_TTL_MS whatever happens, so nothing outlives retention.
 */
import { z } from "zod";
import type {
  DeliveryAttempt,
  MessageRecord,
  MessageSummary,
  NewMessage,
  RecipientRecord,
} from "../../vocabulary.js";
import type { EventResult, MessageQuery, Page } from "../types.js";
import { StoreError } from "../types.js";
import {
  attemptSchema,
  checkInput,
  compact,
  decodeStored,
  messageMetaSchema,
  newEventSchema,
  pageLimit,
  recipientListSchema,
  recipientStatusSchema,
} from "./codecs.js";
import { execResults } from "./connection.js";
import { MESSAGE_TTL_MS, type RedisContext } from "./context.js";
import { pageDescending } from "./paging.js";
import { replyNumber } from "./scripts.js";
import { addAggregates, type StatusMove, writeEvent } from "./stats.js";

const newMessageSchema = messageMetaSchema.extend({
  id: z.string().min(1),
  account: z.string().min(1),
  recipients: z.array(z.string()),
});

type MessageMeta = z.infer<typeof messageMetaSchema>;

export async function recordMessage(ctx: RedisContext, input: NewMessage): Promise<void> {
  const message = checkInput(newMessageSchema, compact(input), "message");
  const { recipients: given, ...rest } = message;
  const meta: MessageMeta = rest;
  const recipients = [...new Set(given.map((r) => r.toLowerCase()))];
  const { keys } = ctx;
  const created =
    replyNumber(
      await ctx.scripts.run(
        "recordMessage",
        [keys.message(meta.id), keys.messageStats(meta.id)],
        [
          JSON.stringify(meta),
          meta.account,
          meta.group ?? "",
          JSON.stringify(recipients),
          meta.acceptedAt,
          MESSAGE_TTL_MS,
          ...recipients,
        ],
      ),
    ) === 1;
  await ctx.client.zadd(keys.acceptedIndex, meta.acceptedAt, JSON.stringify([meta.account, meta.id]));
  await ctx.client
    .multi()
    .zadd(keys.messageIndex(meta.account), meta.acceptedAt, meta.id)
    .pexpire(keys.messageIndex(meta.account), MESSAGE_TTL_MS)
    .exec()
    .then(execResults);
  if (created && meta.group !== undefined && recipients.length > 0) {
    await addAggregates(
      ctx,
      meta.account,
      meta.group,
      meta.acceptedAt,
      [["recipients", recipients.length]],
      [],
    );
  }
}

function statusMoveForAttempt(outcome: DeliveryAttempt["outcome"]): StatusMove {
  if (outcome === "delivered") return { status: "delivered", when: "always" };
  if (outcome === "bounced") return { status: "bounced", when: "always" };
  return { status: "deferred", when: "unless-final" };
}

export async function recordAttempt(
  ctx: RedisContext,
  messageId: string,
  recipient: string,
  input: DeliveryAttempt,
): Promise<EventResult> {
  const attempt = checkInput(attemptSchema, compact(input), "delivery attempt");
  const type = attempt.outcome === "blocked" ? "deferred" : attempt.outcome;
  const event = checkInput(
    newEventSchema,
    { type, messageId, recipient: recipient.toLowerCase(), at: attempt.at, detail: attempt.answer },
    "delivery event",
  );
  return writeEvent(ctx, {
    event,
    move: statusMoveForAttempt(attempt.outcome),
    lastAnswer: attempt.answer,
    attemptJson: JSON.stringify(attempt),
    requireRecipient: true,
  });
}

export async function markSuppressed(
  ctx: RedisContext,
  messageId: string,
  recipient: string,
  reason: string,
  now: number,
): Promise<void> {
  await ctx.scripts.run(
    "markSuppressed",
    [ctx.keys.message(messageId)],
    [recipient.toLowerCase(), reason, now],
  );
}

interface DecodedMessage {
  meta: MessageMeta;
  recipients: RecipientRecord[];
}

function decodeMessage(hash: Record<string, string>): DecodedMessage {
  const meta = decodeStored(messageMetaSchema, hash.meta ?? "", "message");
  const addresses = decodeStored(recipientListSchema, hash.rcpts ?? "", "message recipients");
  const recipients = addresses.map((address): RecipientRecord => {
    const status = recipientStatusSchema.safeParse(hash[`st:${address}`]);
    const updatedAt = Number(hash[`up:${address}`]);
    if (!status.success || !Number.isFinite(updatedAt)) {
      throw new StoreError("invalid", `stored message ${meta.id} has a malformed recipient ${address}`);
    }
    const attemptsJson = hash[`att:${address}`];
    const record: RecipientRecord = {
      address,
      status: status.data,
      updatedAt,
      attempts:
        attemptsJson === undefined
          ? []
          : decodeStored(z.array(attemptSchema), attemptsJson, "delivery attempts"),
    };
    const lastAnswer = hash[`ans:${address}`];
    if (lastAnswer !== undefined) record.lastAnswer = lastAnswer;
    return record;
  });
  return { meta, recipients };
}

export async function getMessage(ctx: RedisContext, id: string): Promise<MessageRecord | undefined> {
  const [hash, events] = await ctx.client
    .multi()
    .hgetall(ctx.keys.message(id))
    .lrange(ctx.keys.messageEvents(id), 0, -1)
    .exec()
    .then(execResults);
  const fields = (hash ?? {}) as Record<string, string>;
  if (fields.meta === undefined) return undefined;
  const { meta, recipients } = decodeMessage(fields);
  const context = compact({ account: meta.account, group: meta.group });
  return {
    ...meta,
    recipients,
    // Stored in arrival order; "oldest first" is by event time (a stable sort keeps arrival order for ties).
    events: ((events ?? []) as string[])
      .map((json) => ({ ...decodeStored(newEventSchema, json, "event"), ...context }))
      .sort((a, b) => a.at - b.at),
  };
}

function matches(message: DecodedMessage, query: MessageQuery): boolean {
  if (query.group !== undefined && message.meta.group !== query.group) return false;
  const rcpt = query.rcpt?.toLowerCase();
  if (rcpt !== undefined && !message.recipients.some((r) => r.address === rcpt)) return false;
  if (query.status !== undefined && !message.recipients.some((r) => r.status === query.status)) return false;
  return true;
}

/**
 * Newest first. Filters other than the time range are applied while walking
 * the account's index, at most 10,000 messages per call: a rare match in a
 * long log comes back as a short page with a cursor rather than a long stall.
 */
export async function listMessages(
  ctx: RedisContext,
  account: string,
  query: MessageQuery = {},
): Promise<Page<MessageSummary>> {
  if (query.status !== undefined) checkInput(recipientStatusSchema, query.status, "status");
  const page = await pageDescending<MessageSummary>(ctx.client, {
    key: ctx.keys.messageIndex(account),
    since: query.since,
    until: query.until,
    cursor: query.cursor,
    limit: pageLimit(query.limit),
    load: async (members) => {
      // One slot per message: separate commands (pipelined on the socket), not one MULTI.
      const hashes = await Promise.all(
        members.map(({ member }) => ctx.client.hgetall(ctx.keys.message(member))),
      );
      return hashes.map((hash) => {
        // Expired or purged while the index still names it: skip.
        if (hash.meta === undefined) return undefined;
        const message = decodeMessage(hash);
        if (!matches(message, query)) return undefined;
        const summary: MessageSummary = {
          ...message.meta,
          recipients: message.recipients.map((r) => ({ address: r.address, status: r.status })),
        };
        return summary;
      });
    },
  });
  return page.nextCursor === undefined ? { items: page.items } : page;
}

const PURGE_BATCH = 500;
const indexMemberSchema = z.tuple([z.string(), z.string()]);

/**
 * Deletes messages accepted before `before`. Each message goes in three
 * idempotent single-slot steps (its keys, then its account index entry, then
 * the fleet index entry last), so a purge cut short is finished by the next.
 */
export async function purgeMessages(ctx: RedisContext, before: number): Promise<number> {
  const { keys } = ctx;
  let purged = 0;
  for (;;) {
    const members = await ctx.client.zrangebyscore(
      keys.acceptedIndex,
      "-inf",
      `(${before}`,
      "LIMIT",
      0,
      PURGE_BATCH,
    );
    if (members.length === 0) return purged;
    const results = await Promise.all(
      members.map(async (member) => {
        const entry = indexMemberSchema.safeParse(safeJson(member));
        // A corrupt index entry names nothing that can be deleted: dropping it is all there is to do.
        if (!entry.success) return 0;
        const [account, id] = entry.data;
        const [deleted] = await ctx.client
          .multi()
          .del(keys.message(id))
          .del(keys.messageStats(id), keys.messageEvents(id), keys.messageUnique(id))
          .exec()
          .then(execResults);
        await ctx.client.zrem(keys.messageIndex(account), id);
        return deleted === 1 ? 1 : 0;
      }),
    );
    await ctx.client.zrem(keys.acceptedIndex, ...members);
    purged += results.reduce<number>((sum, n) => sum + n, 0);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
