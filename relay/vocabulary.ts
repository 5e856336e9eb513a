/**
 * The relay's vocabulary: the records and states every stage speaks of: a
 * message and its recipients' statuses, delivery attempts and their outcomes,
 * events and stats, suppressions, sending limits, blocked pairs, API keys and
 * webhooks. Types and constants only, no I/O, importing nothing, so any
 * folder may use them (docs/architecture.md). The Store (store/types.ts)
 * keeps these records; the conventions it states (times in milliseconds
 * since the epoch, addresses lower-cased) hold here too.
 */

// ---------------------------------------------------------------- suppressions

export type SuppressionList = "bounces" | "unsubscribes" | "complaints";
export const SUPPRESSION_LISTS: readonly SuppressionList[] = ["bounces", "unsubscribes", "complaints"];

export interface SuppressionEntry {
  /** Lower-cased. */
  address: string;
  list: SuppressionList;
  reason: string;
  at: number;
  /** The message whose bounce, unsubscribe or complaint put it here, if any. */
  messageId?: string;
}

// ---------------------------------------------------------------- counters

export interface SendingLimits {
  /** 0: no limit. */
  perHour: number;
  perDay: number;
  perMonth: number;
  /** Over a limit, still allow the message but report `overage: true`. */
  overageAllowed: boolean;
}

export type LimitWindow = "hour" | "day" | "month";

export interface SendingCounts {
  /** Messages counted in the current UTC hour, UTC day and UTC calendar month. */
  hour: number;
  day: number;
  month: number;
}

// ---------------------------------------------------------------- groups

/**
 * The one rule for a transactional group's name, wherever one arrives (the
 * API, the X-Relay-Group header at intake), is read again (before a copy, with
 * X-Relay-Track) or is kept (the Store): 1 to 128 letters, digits, spaces or
 * . _ : @ / + -, not starting or ending with a space. So no control
 * characters, and nothing a header cannot carry (its value is trimmed).
 */
export const GROUP_NAME_PATTERN = /^(?! )[\p{L}\p{N} ._:@/+-]{1,128}(?<! )$/u;
export const GROUP_NAME_RULE =
  "1-128 letters, digits, spaces or . _ : @ / + -, not starting or ending with a space";

export interface TransactionalGroup {
  name: string;
  createdAt: number;
}

// ---------------------------------------------------------------- message log

export type RecipientStatus =
  /** Accepted, not yet attempted. */
  | "queued"
  /** At least one temporary failure; will be retried. */
  | "deferred"
  | "delivered"
  /** Permanent failure, expiry, or a bounce that came back later. */
  | "bounced"
  /** Not sent: on a suppression list or over a limit after acceptance. */
  | "suppressed";

export const FINAL_STATUSES: readonly RecipientStatus[] = ["delivered", "bounced", "suppressed"];

export type AttemptOutcome =
  | "delivered"
  /** 4xx or connection failure: retry later. */
  | "deferred"
  /** 5xx or maximum age: give up. */
  | "bounced"
  /** The remote answered that this sender's IP is blocked: fail over to another sender. */
  | "blocked";

export interface DeliveryAttempt {
  at: number;
  /** Sender name from the route table. */
  sender: string;
  sourceIp?: string;
  /** The host that answered (MX or smart host). */
  remoteHost?: string;
  outcome: AttemptOutcome;
  /** SMTP reply code, when there was one. */
  responseCode?: number;
  /** The remote answer or the local reason, as text. */
  answer: string;
  durationMs?: number;
}

export interface NewMessage {
  /** The relay's message ID (the "queued as ID" of the 250 reply). */
  id: string;
  account: string;
  /** Envelope sender ("" for the null sender). */
  from: string;
  recipients: string[];
  subject?: string;
  size: number;
  group?: string;
  acceptedAt: number;
  clientIp?: string;
  authUser?: string;
  /** The Message-ID header, as received. */
  messageIdHeader?: string;
}

export interface RecipientRecord {
  address: string;
  status: RecipientStatus;
  updatedAt: number;
  /** The last answer or reason, for the log list. */
  lastAnswer?: string;
  attempts: DeliveryAttempt[];
}

export interface MessageSummary extends Omit<NewMessage, "recipients"> {
  recipients: { address: string; status: RecipientStatus }[];
}

export interface MessageRecord extends Omit<NewMessage, "recipients"> {
  recipients: RecipientRecord[];
  /** Oldest first. */
  events: StoredEvent[];
}

// ---------------------------------------------------------------- events and stats

export type EventType = "delivered" | "deferred" | "bounced" | "open" | "click" | "unsubscribe" | "complaint";

export interface NewEvent {
  type: EventType;
  messageId: string;
  recipient: string;
  at: number;
  ip?: string;
  userAgent?: string;
  /** ISO 3166-1 alpha-2, from GeoIP. */
  country?: string;
  /** A prefetch or scanner (e.g. Apple MPP, Gmail image proxy): kept apart in stats. */
  bot?: boolean;
  /** For clicks: the original URL and the link's index in the message. */
  url?: string;
  linkIndex?: number;
  /** Free text: a bounce's diagnostic, a complaint's feedback type. */
  detail?: string;
}

export interface StoredEvent extends NewEvent {
  account: string;
  group?: string;
}

/**
 * Counts for one message, or one group over a time range.
 * recipients: recipient copies accepted. delivered, deferred, bounced,
 * unsubscribes, complaints: distinct recipients with at least one such event.
 * opens, clicks: all non-bot events; uniqueOpens, uniqueClicks: distinct
 * recipients among them; botOpens, botClicks: the flagged ones, apart.
 */
export interface DeliveryStats {
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

export const EMPTY_STATS: Readonly<DeliveryStats> = Object.freeze({
  recipients: 0,
  delivered: 0,
  deferred: 0,
  bounced: 0,
  opens: 0,
  uniqueOpens: 0,
  clicks: 0,
  uniqueClicks: 0,
  unsubscribes: 0,
  complaints: 0,
  botOpens: 0,
  botClicks: 0,
});

/** Engagement (non-bot opens and clicks) by recipient domain, country, or UTC hour of day ("00".."23"). */
export type ReportDimension = "domain" | "country" | "hour";

export interface ReportRow {
  /** The domain, the country code ("??" when unknown), or the hour "00".."23". */
  key: string;
  opens: number;
  uniqueOpens: number;
  clicks: number;
  uniqueClicks: number;
}

// ---------------------------------------------------------------- errors after acceptance

export interface AccountErrorRecord {
  at: number;
  /** A RelayError code, e.g. "suppressed", "over_limit", "unparseable". */
  code: string;
  message: string;
  messageId?: string;
  recipient?: string;
  /** Addresses a notification went to. */
  notified: string[];
}

// ---------------------------------------------------------------- routing

export interface BlockedPair {
  sender: string;
  /** Recipient domain, lower-cased. */
  domain: string;
  since: number;
  until: number;
  reason: string;
  /** Who reported it (pod name). */
  reportedBy?: string;
}

// ---------------------------------------------------------------- API keys

export interface ApiKeyRecord {
  id: string;
  account: string;
  /** sha256 hex of the key; keys are 32 random bytes, so no slow hash is needed. */
  hash: string;
  createdAt: number;
}

// ---------------------------------------------------------------- webhooks

/** A URL an account registered to be told of its events (relay/webhooks). */
export interface WebhookRecord {
  /** Unique within the account. */
  id: string;
  account: string;
  /** http: or https:. */
  url: string;
  /** The event types sent to it; at least one. */
  events: EventType[];
  /** The HMAC-SHA256 key of the signature header. Stored as is: signing needs it. */
  secret: string;
  createdAt: number;
  /** False: kept, but sent nothing. */
  active: boolean;
}

// ---------------------------------------------------------------- webhook outbox

/**
 * One POST to make: an event for one webhook, waiting in the outbox until a
 * relay has it answered 2xx or gives up on it (relay/webhooks/README.md).
 */
export interface NewWebhookDelivery {
  /** Unique in the outbox; enqueueing an id already there changes nothing. */
  id: string;
  webhookId: string;
  eventType: EventType;
  /** The JSON body, built once when the event was recorded: the same bytes on every attempt. */
  body: string;
  /** Also when it is first due. */
  createdAt: number;
}

/** A delivery as claimed: the claimer holds it until `leaseMs` has passed or it finishes or retries it. */
export interface WebhookDelivery extends NewWebhookDelivery {
  account: string;
  /** POSTs started for it, this claim's included (a claim whose relay died counts too). */
  attempts: number;
  /** This claim's token: finishing or retrying needs it, so a claim that lapsed cannot touch a newer one. */
  claim: string;
  /** An earlier claim lapsed without finishing or retrying: its POST may have arrived, so this one may be a duplicate. */
  reclaimed: boolean;
}
