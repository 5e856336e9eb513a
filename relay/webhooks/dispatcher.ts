/**
 * Sends events to the webhooks registered for them, at least once across
 * restarts: the I/O shell around the Store's outbox (what waits, shared by a
 * fleet), policy.ts (what to do after a POST) and sender.ts (one POST).
 *
 * - `onEvent` writes one outbox delivery per interested webhook and returns
 *   once the write is committed; the tap (tap.ts) awaits it before the
 *   event's writer goes on, so an event whose writer moved on is in the
 *   outbox. It never waits for a receiver.
 * - Deliveries are claimed from the outbox with a lease (`leaseMs`): while a
 *   relay lives, no other relay sends what it claimed; when it dies, its
 *   claims lapse and any relay (itself, restarted) sends them again, marked
 *   `reclaimed` (a possible duplicate: the receiver drops it by event id).
 * - 2xx or giving up removes the delivery; a retry releases it with the
 *   policy's backoff as its due time.
 */
import { randomBytes } from "node:crypto";
import { Counter, Gauge, type Registry } from "prom-client";
import { type Logger, silentLogger } from "../log/logger.js";
import { outboxHookKey } from "../store/outbox-input.js";
import type { Store } from "../store/types.js";
import type { NewWebhookDelivery, StoredEvent, WebhookDelivery } from "../vocabulary.js";
import { newEventId, webhookPayload } from "./payload.js";
import { type AttemptResult, nextStep, type RetrySettings } from "./policy.js";
import { Registrations } from "./registrations.js";
import { httpPoster, type PostWebhook } from "./sender.js";
import { SIGNATURE_HEADER, signatureHeader } from "./signature.js";
import { guardedLookup, targetCheck } from "./targets.js";

export interface WebhookSettings {
  /** IP addresses or CIDR ranges let through although private or loopback (targets.ts). */
  allowPrivateTargets: readonly string[];
  /** One POST, from DNS to the status line. */
  timeoutMs: number;
  /** POSTs in flight at once, per process. */
  concurrency: number;
  /** POSTs in flight at once to one webhook, per process. */
  perHookConcurrency: number;
  /** Deliveries outstanding in the outbox per account (claimed ones included) before the oldest are dropped. */
  maxOutstandingPerAccount: number;
  /** How long a claim holds a delivery; must be well over `timeoutMs`. */
  leaseMs: number;
  /** How often the outbox is looked at for due deliveries (retries, lapsed claims, other relays' events). */
  pollMs: number;
  retry: RetrySettings;
  /** How long a relay trusts its copy of an account's webhooks without a change notice. */
  registrationTtlMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: Readonly<WebhookSettings> = Object.freeze({
  allowPrivateTargets: [],
  timeoutMs: 10_000,
  concurrency: 16,
  perHookConcurrency: 4,
  maxOutstandingPerAccount: 10_000,
  leaseMs: 60_000,
  pollMs: 1_000,
  // 2 s, 4 s, ... capped at 10 min: about 4 minutes over 8 attempts, then given up.
  retry: { maxAttempts: 8, baseDelayMs: 2_000, maxDelayMs: 600_000 },
  registrationTtlMs: 30_000,
});

type OutboxStore = Pick<
  Store,
  | "listWebhooks"
  | "onChange"
  | "enqueueWebhookDeliveries"
  | "claimWebhookDeliveries"
  | "finishWebhookDelivery"
  | "retryWebhookDelivery"
  | "countWebhookDeliveries"
>;

export interface WebhookDeps {
  store: OutboxStore;
  settings?: Partial<WebhookSettings>;
  /** The relay's registry: deliveries are counted there. */
  registry?: Registry;
  logger?: Logger;
  /** The POST itself; by default node:http(s) limited to the allowed targets. */
  post?: PostWebhook;
  /** This process's name in claims; unique per process by default. */
  owner?: string;
  now?: () => number;
  random?: () => number;
}

/** What became of one POST or outbox delivery: the `result` label of the deliveries metric. */
export type DeliveryResult =
  /** Answered 2xx. */
  | "delivered"
  /** Failed this time (5xx, 429, timeout, connection); due again after a backoff. */
  | "retried"
  /** Given up: a 3xx or 4xx, the retries ran out, or the webhook is gone. */
  | "failed"
  /** The target is not allowed (SSRF rules) or not http(s). */
  | "refused"
  /** Pushed out of the outbox by the account's cap. */
  | "dropped";

const DELIVERIES_METRIC = "relayfleet_webhook_deliveries_total";
const RECLAIMED_METRIC = "relayfleet_webhook_reclaimed_total";
const QUEUE_METRIC = "relayfleet_webhook_queue";
/** Deliveries kept in memory while the store refuses them, at most. */
const HELD_BACK_LIMIT = 10_000;

export class WebhookDispatcher {
  private readonly settings: WebhookSettings;
  private readonly logger: Logger;
  private readonly store: OutboxStore;
  private readonly registrations: Registrations;
  private readonly post: PostWebhook;
  private readonly owner: string;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly abort = new AbortController();
  private readonly counter: Counter<"result"> | undefined;
  private readonly reclaimedCounter: Counter | undefined;
  private readonly poll: NodeJS.Timeout;
  /** POSTs under way (claimed, not yet settled) per webhook: the claim's `busy`. */
  private readonly busy = new Map<string, { account: string; webhookId: string; count: number }>();
  private readonly settling = new Set<Promise<void>>();
  private inFlight = 0;
  private claiming = false;
  /** Another claim was asked for while one ran. */
  private claimAgain = false;
  private closed = false;
  private droppedSinceWarning = 0;
  private lastDropWarning = Number.NEGATIVE_INFINITY;
  private readonly idleWaiters: (() => void)[] = [];
  /** Events' deliveries the store refused at the time (see holdBack). Lost if the process stops. */
  private readonly heldBack: { account: string; deliveries: NewWebhookDelivery[] }[] = [];
  private heldBackCount = 0;
  private retryingHeldBack = false;

  constructor(deps: WebhookDeps) {
    this.settings = { ...DEFAULT_WEBHOOK_SETTINGS, ...deps.settings };
    this.logger = (deps.logger ?? silentLogger()).child({ component: "webhooks" });
    this.store = deps.store;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.owner = deps.owner ?? `relay-${process.pid}-${randomBytes(6).toString("hex")}`;
    this.registrations = new Registrations(deps.store, {
      ttlMs: this.settings.registrationTtlMs,
      maxAccounts: 10_000,
      now: this.now,
    });
    const allowed = targetCheck(this.settings.allowPrivateTargets);
    this.post = deps.post ?? httpPoster(allowed, guardedLookup(allowed));
    this.counter = deps.registry ? deliveriesCounter(deps.registry) : undefined;
    this.reclaimedCounter = deps.registry ? reclaimedCounter(deps.registry) : undefined;
    if (deps.registry) queueGauge(deps.registry, () => this.store.countWebhookDeliveries());
    this.poll = setInterval(() => {
      if (this.heldBack.length > 0) void this.retryHeldBack().then(() => this.claim());
      this.claim();
    }, this.settings.pollMs);
    this.poll.unref();
    // Deliveries left by an earlier run (or other relays) are sent without waiting for an event.
    setImmediate(() => this.claim());
  }

  /**
   * Puts one delivery per interested webhook of `event` in the outbox; resolves once written
   * (or given up: a store failure is logged, never thrown, so the event's writer is not failed).
   */
  readonly onEvent = async (event: StoredEvent, unique: boolean): Promise<void> => {
    if (this.closed) return;
    try {
      const hooks = await this.registrations.forAccount(event.account);
      const wanted = hooks.filter((hook) => hook.active && hook.events.includes(event.type));
      if (wanted.length === 0 || this.closed) return;
      const eventId = newEventId();
      const body = JSON.stringify(webhookPayload(eventId, event, unique));
      const createdAt = this.now();
      const deliveries: NewWebhookDelivery[] = wanted.map((hook) => ({
        id: `${eventId}.${hook.id}`,
        webhookId: hook.id,
        eventType: event.type,
        body,
        createdAt,
      }));
      try {
        await this.enqueue(event.account, deliveries);
      } catch (error) {
        // The store refused the write (down, disk full): kept here and tried again each poll.
        this.holdBack(event.account, deliveries);
        throw error;
      }
      this.claim();
    } catch (error) {
      this.logger.warn(
        { err: error, account: event.account, type: event.type },
        "could not queue the event for webhooks; kept in memory to try again",
      );
    }
  };

  private async enqueue(account: string, deliveries: NewWebhookDelivery[]): Promise<void> {
    const { dropped } = await this.store.enqueueWebhookDeliveries(
      account,
      deliveries,
      this.settings.maxOutstandingPerAccount,
    );
    if (dropped > 0) this.dropped(account, dropped);
  }

  /** Deliveries the store could not take yet, oldest first; bounded, the oldest dropped past it. */
  private holdBack(account: string, deliveries: NewWebhookDelivery[]): void {
    this.heldBack.push({ account, deliveries });
    this.heldBackCount += deliveries.length;
    while (this.heldBackCount > HELD_BACK_LIMIT) {
      const oldest = this.heldBack.shift();
      if (!oldest) break;
      this.heldBackCount -= oldest.deliveries.length;
      this.dropped(oldest.account, oldest.deliveries.length);
    }
  }

  /** Hands what was held back to the store, in order, until it refuses again. */
  private async retryHeldBack(): Promise<void> {
    if (this.retryingHeldBack) return;
    this.retryingHeldBack = true;
    try {
      while (!this.closed && this.heldBack.length > 0) {
        const next = this.heldBack[0] as { account: string; deliveries: NewWebhookDelivery[] };
        try {
          await this.enqueue(next.account, next.deliveries);
        } catch {
          return;
        }
        this.heldBack.shift();
        this.heldBackCount -= next.deliveries.length;
      }
    } finally {
      this.retryingHeldBack = false;
    }
  }

  /** Resolves when no claim, POST or outbox update of this process is under way (tests, a graceful stop). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops claiming and aborts POSTs in flight, releasing their deliveries to
   * be sent again (by any relay, or this one restarted); resolves once those
   * outbox updates are done, so the store may be closed after.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    this.registrations.close();
    this.abort.abort();
    await Promise.allSettled([...this.settling]);
    this.wakeIdle();
  }

  /** Claims what this process has room for and starts the POSTs; one claim at a time. */
  private claim(): void {
    if (this.closed) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    const room = this.settings.concurrency - this.inFlight;
    if (room <= 0) return;
    this.claiming = true;
    this.claimAgain = false;
    this.store
      .claimWebhookDeliveries({
        owner: this.owner,
        now: this.now(),
        leaseMs: this.settings.leaseMs,
        limit: room,
        perWebhook: this.settings.perHookConcurrency,
        busy: [...this.busy.values()],
      })
      .then(
        (claimed) => {
          for (const delivery of claimed) this.start(delivery);
          // A full claim may have left more behind.
          if (claimed.length === room) this.claimAgain = true;
        },
        (error: unknown) => this.logger.warn({ err: error }, "could not claim webhook deliveries"),
      )
      .finally(() => {
        this.claiming = false;
        if (this.claimAgain) this.claim();
        else this.wakeIdle();
      });
  }

  private start(delivery: WebhookDelivery): void {
    if (delivery.reclaimed) this.reclaimedCounter?.inc();
    const key = outboxHookKey(delivery.account, delivery.webhookId);
    const entry = this.busy.get(key) ?? {
      account: delivery.account,
      webhookId: delivery.webhookId,
      count: 0,
    };
    entry.count++;
    this.busy.set(key, entry);
    this.inFlight++;
    const done = this.attempt(delivery)
      .catch((error: unknown) =>
        this.logger.warn({ err: error, delivery: delivery.id }, "webhook attempt failed"),
      )
      .finally(() => {
        this.settling.delete(done);
        entry.count--;
        if (entry.count === 0) this.busy.delete(key);
        this.inFlight--;
        this.claim();
        this.wakeIdle();
      });
    this.settling.add(done);
  }

  private async attempt(delivery: WebhookDelivery): Promise<void> {
    const where = { account: delivery.account, webhook: delivery.webhookId, delivery: delivery.id };
    const hook = (await this.registrations.forAccount(delivery.account)).find(
      (h) => h.id === delivery.webhookId && h.active,
    );
    if (!hook) {
      // Deleted or switched off since the event: nobody to tell.
      await this.store.finishWebhookDelivery(delivery);
      this.count("failed");
      this.logger.debug(where, "webhook gone; delivery dropped");
      return;
    }
    if (delivery.attempts > this.settings.retry.maxAttempts) {
      // Only claims that lapsed get here (relays dying on it): the policy's limit holds all the same.
      await this.store.finishWebhookDelivery(delivery);
      this.count("failed");
      this.logger.warn({ ...where, attempts: delivery.attempts }, "webhook not delivered");
      return;
    }
    const timestamp = Math.floor(this.now() / 1000);
    const result: AttemptResult = await this.post({
      url: hook.url,
      body: delivery.body,
      timeoutMs: this.settings.timeoutMs,
      signal: this.abort.signal,
      headers: {
        "content-type": "application/json",
        "user-agent": "relayfleet-webhooks/1",
        [SIGNATURE_HEADER]: signatureHeader(hook.secret, timestamp, delivery.body),
        "x-relayfleet-event": delivery.eventType,
        "x-relayfleet-delivery": eventIdOf(delivery.id),
        "x-relayfleet-attempt": String(delivery.attempts),
        "x-relayfleet-webhook": hook.id,
      },
    }).catch((error: unknown) => ({ kind: "network" as const, message: String(error) }));
    if (this.closed) {
      // Aborted by close(): due again at once, for whichever relay runs next.
      await this.store.retryWebhookDelivery(delivery, this.now());
      return;
    }
    const step = nextStep(result, delivery.attempts, this.settings.retry, this.random);
    if (step.kind === "delivered") {
      this.count("delivered");
      await this.store.finishWebhookDelivery(delivery);
      return;
    }
    if (step.kind === "failed") {
      this.count(result.kind === "refused" ? "refused" : "failed");
      this.logger.warn(
        { ...where, reason: step.reason, attempts: delivery.attempts },
        "webhook not delivered",
      );
      await this.store.finishWebhookDelivery(delivery);
      return;
    }
    this.count("retried");
    this.logger.debug({ ...where, reason: step.reason, delayMs: step.delayMs }, "webhook will be retried");
    await this.store.retryWebhookDelivery(delivery, this.now() + step.delayMs);
    // This relay will likely be the one to claim it when due; no need to wait for the poll.
    setTimeout(() => this.claim(), step.delayMs).unref();
  }

  private dropped(account: string, count: number): void {
    this.count("dropped", count);
    this.droppedSinceWarning += count;
    // One warning a minute at most: a flood that fills the outbox must not flood the log too.
    if (this.now() - this.lastDropWarning >= 60_000) {
      this.logger.warn(
        { account, dropped: this.droppedSinceWarning, cap: this.settings.maxOutstandingPerAccount },
        "webhook outbox full for the account; oldest deliveries dropped",
      );
      this.lastDropWarning = this.now();
      this.droppedSinceWarning = 0;
    }
  }

  private count(result: DeliveryResult, by = 1): void {
    this.counter?.inc({ result }, by);
  }

  private isIdle(): boolean {
    return this.inFlight === 0 && !this.claiming;
  }

  private wakeIdle(): void {
    if (!this.isIdle() && !this.closed) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** The event id in a delivery id (`EVENT.WEBHOOK`, made in onEvent). */
function eventIdOf(deliveryId: string): string {
  const dot = deliveryId.indexOf(".");
  return dot === -1 ? deliveryId : deliveryId.slice(0, dot);
}

function deliveriesCounter(registry: Registry): Counter<"result"> {
  const existing = registry.getSingleMetric(DELIVERIES_METRIC);
  if (existing) return existing as Counter<"result">;
  return new Counter({
    name: DELIVERIES_METRIC,
    help: "Webhook POSTs and outbox deliveries by result: delivered, retried, failed, refused, dropped",
    labelNames: ["result"] as const,
    registers: [registry],
  });
}

function reclaimedCounter(registry: Registry): Counter {
  const existing = registry.getSingleMetric(RECLAIMED_METRIC);
  if (existing) return existing as Counter;
  return new Counter({
    name: RECLAIMED_METRIC,
    help: "Webhook deliveries taken over after an earlier claim lapsed unsettled (its POST may have arrived: possible duplicates)",
    registers: [registry],
  });
}

function queueGauge(registry: Registry, size: () => Promise<number>): void {
  if (registry.getSingleMetric(QUEUE_METRIC)) return;
  new Gauge({
    name: QUEUE_METRIC,
    help: "Webhook deliveries outstanding in the outbox (on a Redis store: the fleet's, the same on every relay)",
    registers: [registry],
    async collect() {
      try {
        this.set(await size());
      } catch {
        // The store is down: the scrape keeps the last value rather than failing.
      }
    },
  });
}
