/**
 * The JSON body of a webhook POST: one event, flat, with the message's account
 * and group. `id` names the event, not the attempt: it is the same on every
 * retry and for every webhook told of it, so a receiver can drop duplicates.
 */
import { randomUUID } from "node:crypto";
import type { EventType, StoredEvent } from "../vocabulary.js";

export interface WebhookPayload {
  id: string;
  type: EventType;
  account: string;
  messageId: string;
  recipient: string;
  /** Milliseconds since the epoch, like every time in the API. */
  at: number;
  group?: string;
  /** First non-bot event of its type for this recipient of this message. */
  unique: boolean;
  ip?: string;
  userAgent?: string;
  country?: string;
  bot?: boolean;
  url?: string;
  linkIndex?: number;
  detail?: string;
}

export function newEventId(): string {
  return `evt_${randomUUID().replaceAll("-", "")}`;
}

/** Pure: the payload for a stored event. Keys absent from the event are absent here. */
export function webhookPayload(id: string, event: StoredEvent, unique: boolean): WebhookPayload {
  const payload: WebhookPayload = {
    id,
    type: event.type,
    account: event.account,
    messageId: event.messageId,
    recipient: event.recipient,
    at: event.at,
    unique,
  };
  if (event.group !== undefined) payload.group = event.group;
  if (event.ip !== undefined) payload.ip = event.ip;
  if (event.userAgent !== undefined) payload.userAgent = event.userAgent;
  if (event.country !== undefined) payload.country = event.country;
  if (event.bot !== undefined) payload.bot = event.bot;
  if (event.url !== undefined) payload.url = event.url;
  if (event.linkIndex !== undefined) payload.linkIndex = event.linkIndex;
  if (event.detail !== undefined) payload.detail = event.detail;
  return payload;
}
