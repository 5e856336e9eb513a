/**
 * Builders and clocks for the Store contract suite.
 *
 * Times sit near the real clock (the current UTC hour and the weeks after
 * it), never in a fixed past year: an adapter may expire data by retention
 * (Redis TTLs), and a test must not lose its data to that.
 */
import { randomUUID } from "node:crypto";
import { type Account, type AccountInput, accountSchema } from "../../relay/accounts/schema.js";
import { type RouteTable, type RouteTableInput, routeTableSchema } from "../../relay/routes/schema.js";
import type { Page } from "../../relay/store/types.js";
import type { DeliveryAttempt, NewEvent, NewMessage } from "../../relay/vocabulary.js";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Start of the current UTC hour. */
export function currentHour(): number {
  return Math.floor(Date.now() / HOUR) * HOUR;
}

/** 00:00 UTC of the day after `time`'s day. */
export function nextUtcDay(time: number): number {
  return Math.floor(time / DAY) * DAY + DAY;
}

/** 00:00 UTC of the first day of the month after `time`'s month. */
export function nextUtcMonth(time: number): number {
  const date = new Date(time);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** A stored account with every default filled in; `createdAt`/`updatedAt` default to now. */
export function account(
  name: string,
  settings: Omit<Partial<AccountInput>, "credentials" | "name"> & Partial<Pick<Account, "credentials">> = {},
  times: { createdAt?: number; updatedAt?: number } = {},
): Account {
  const now = Date.now();
  return accountSchema.parse({
    ...settings,
    name,
    createdAt: times.createdAt ?? now,
    updatedAt: times.updatedAt ?? times.createdAt ?? now,
  });
}

export function routeTable(input: Partial<RouteTableInput> = {}): RouteTable {
  return routeTableSchema.parse({
    senders: [
      { name: "out1", host: "127.0.0.1", port: 2600 },
      { name: "out2", mx: true, localAddress: "127.0.0.3" },
    ],
    ...input,
  });
}

/** A unique message ID, as the relay hands out in "queued as ID". */
export function messageId(): string {
  return randomUUID().replaceAll("-", "").slice(0, 20).toUpperCase();
}

export function newMessage(overrides: Partial<NewMessage> & Pick<NewMessage, "acceptedAt">): NewMessage {
  return {
    id: messageId(),
    account: "acme",
    from: "news@acme.com",
    recipients: ["one@example.org"],
    subject: "Hello",
    size: 2048,
    ...overrides,
  };
}

export function attempt(
  outcome: DeliveryAttempt["outcome"],
  at: number,
  extra: Partial<DeliveryAttempt> = {},
): DeliveryAttempt {
  const answers: Record<DeliveryAttempt["outcome"], [number, string]> = {
    delivered: [250, "250 2.0.0 Ok: queued"],
    deferred: [451, "451 4.7.1 Try again later"],
    bounced: [550, "550 5.1.1 No such user"],
    blocked: [554, "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"],
  };
  const [responseCode, answer] = answers[outcome];
  return { at, sender: "out1", outcome, responseCode, answer, remoteHost: "mx.example.org", ...extra };
}

export function event(
  type: NewEvent["type"],
  messageId: string,
  recipient: string,
  at: number,
  extra: Partial<NewEvent> = {},
): NewEvent {
  return { type, messageId, recipient, at, ...extra };
}

/**
 * Walks every page of a paged list; fails if the pages do not end
 * (a cursor that never runs out) or a page is larger than `limit`.
 */
export async function collectPages<T>(
  fetch: (cursor: string | undefined) => Promise<Page<T>>,
  limit: number,
  maxPages = 1000,
): Promise<{ items: T[]; pageSizes: number[] }> {
  const items: T[] = [];
  const pageSizes: number[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const result = await fetch(cursor);
    if (result.items.length > limit) throw new Error(`page of ${result.items.length} items, limit ${limit}`);
    items.push(...result.items);
    pageSizes.push(result.items.length);
    if (result.nextCursor === undefined) return { items, pageSizes };
    cursor = result.nextCursor;
  }
  throw new Error(`paging did not end after ${maxPages} pages`);
}
