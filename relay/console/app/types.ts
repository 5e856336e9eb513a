/** The API's answers as the console reads them (relay/api/schemas.ts is the source). */
import type { Attempt, TrackingEvent } from "./logic.js";

export interface MessageSummary {
  id: string;
  account: string;
  from: string;
  subject?: string;
  size: number;
  group?: string;
  acceptedAt: number;
  recipients: { address: string; status: string }[];
}

export interface MessageRecord extends Omit<MessageSummary, "recipients"> {
  clientIp?: string;
  authUser?: string;
  messageIdHeader?: string;
  recipients: {
    address: string;
    status: string;
    updatedAt: number;
    lastAnswer?: string;
    attempts: Attempt[];
  }[];
  events: TrackingEvent[];
}

export interface Stats {
  recipients: number;
  delivered: number;
  deferred: number;
  bounced: number;
  opens: number;
  uniqueOpens: number;
  clicks: number;
  uniqueClicks: number;
  unsubscribes: number;
  complaints: number;
  botOpens: number;
  botClicks: number;
}

export interface ReportRow {
  key: string;
  opens: number;
  uniqueOpens: number;
  clicks: number;
  uniqueClicks: number;
}

export interface Suppression {
  address: string;
  list: string;
  reason: string;
  at: number;
  messageId?: string;
}

export interface AccountView {
  name: string;
  allowedIps: string[];
  allowedFrom: string[];
  tracking: { opens: boolean; clicks: boolean; textClicks: boolean };
  wrapColumn: number;
  limits: { perHour: number; perDay: number; perMonth: number; overageAllowed: boolean };
  notify: { accountManager?: string; toAccountManager: boolean; toFrom: boolean };
  credentials: { username: string }[];
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** What every page is given: which account, whether the token may change settings, where to draw. */
export interface Context {
  account: string;
  admin: boolean;
  main: HTMLElement;
  /** Registers work to stop (timers) when the user leaves the page. */
  onLeave(stop: () => void): void;
}
