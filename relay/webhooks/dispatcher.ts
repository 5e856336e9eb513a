/**
 * Sends events to the webhooks registered for them: the I/O shell around
 * queue.ts (what waits), policy.ts (what to do after a POST) and sender.ts
 * (one POST). `onEvent` only queues, so neither mail flow nor a tracking
 * answer ever waits for a receiver; what is queued lives in this process's
 * memory and is lost if it stops (webhooks are a notification, the API and
 * its message log are the record).
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { type Logger, silentLogger } from "../log/logger.js";
import type { Store, StoredEvent } from "../store/types.js";
import { newEventId, webhookPayload } from "./payload.js";
import { type AttemptResult, nextStep, type RetrySettings } from "./policy.js";
import { type Delivery, DeliveryQueue } from "./queue.js";
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
  /** POSTs in flight at once to one webhook. */
  perHookConcurrency: number;
  /** Deliveries queued (ready or waiting to retry) before the oldest is dropped. */
  queueCapacity: number;
  retry: RetrySettings;
  /** How long a relay trusts its copy of an account's webhooks without a change notice. */
  registrationTtlMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: Readonly<WebhookSettings> = Object.freeze({
  allowPrivateTargets: [],
  timeoutMs: 10_000,
  concurrency: 16,
  perHookConcurrency: 4,
  queueCapacity: 10_000,
  // 2 s, 4 s, ... capped at 10 min: about 4 minutes over 8 attempts, then given up.
  retry: { maxAttempts: 8, baseDelayMs: 2_000, maxDelayMs: 600_000 },
  registrationTtlMs: 30_000,
});

export interface WebhookDeps {
  store: Pick<Store, "listWebhooks" | "onChange">;
  settings?: Partial<WebhookSettings>;
  /** The relay's registry: deliveries are counted there. */
  registry?: Registry;
  logger?: Logger;
  /** The POST itself; by default node:http(s) limited to the allowed targets. */
  post?: PostWebhook;
  now?: () => number;
  random?: () => number;
}

/** What became of one POST or queued delivery: the `result` label of the deliveries metric. */
export type DeliveryResult =
  /** Answered 2xx. */
  | "delivered"
  /** Failed this time (5xx, 429, timeout, connection); queued to try again. */
  | "retried"
  /** Given up: a 3xx or 4xx, or the retries ran out. */
  | "failed"
  /** The target is not allowed (SSRF rules) or not http(s). */
  | "refused"
  /** Pushed out of a full queue. */
  | "dropped";

const DELIVERIES_METRIC = "relayfleet_webhook_deliveries_total";
const QUEUE_METRIC = "relayfleet_webhook_queue";

interface QueuedDelivery extends Delivery {
  type: StoredEvent["type"];
  /** Set while parked for a retry. */
  timer?: NodeJS.Timeout;
}

export class WebhookDispatcher {
  private readonly settings: WebhookSettings;
  private readonly logger: Logger;
  private readonly queue: DeliveryQueue<QueuedDelivery>;
  private readonly registrations: Registrations;
  private readonly post: PostWebhook;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly abort = new AbortController();
  private readonly counter: Counter<"result"> | undefined;
  private inFlight = 0;
  private closed = false;
  private droppedSinceWarning = 0;
  private lastDropWarning = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(deps: WebhookDeps) {
    this.settings = { ...DEFAULT_WEBHOOK_SETTINGS, ...deps.settings };
    this.logger = (deps.logger ?? silentLogger()).child({ component: "webhooks" });
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.queue = new DeliveryQueue(this.settings.queueCapacity, this.settings.perHookConcurrency);
    this.registrations = new Registrations(deps.store, {
      ttlMs: this.settings.registrationTtlMs,
      maxAccounts: 10_000,
      now: this.now,
    });
    const allowed = targetCheck(this.settings.allowPrivateTargets);
    this.post = deps.post ?? httpPoster(allowed, guardedLookup(allowed));
    this.counter = deps.registry ? deliveriesCounter(deps.registry) : undefined;
    if (deps.registry) queueGauge(deps.registry, () => this.queue.size);
  }

  /** Tells the account's webhooks of `event`; returns at once and never throws (an EventListener). */
  readonly onEvent = (event: StoredEvent, unique: boolean): void => {
    if (this.closed) return;
    this.registrations.forAccount(event.account).then(
      (hooks) => {
        const wanted = hooks.filter((hook) => hook.active && hook.events.includes(event.type));
        if (wanted.length === 0 || this.closed) return;
        const eventId = newEventId();
        const body = JSON.stringify(webhookPayload(eventId, event, unique));
        for (const hook of wanted)
          this.dropped(this.queue.add({ hook, eventId, body, type: event.type, attempts: 0 }));
        this.pump();
      },
      (error: unknown) =>
        this.logger.warn({ err: error, account: event.account }, "could not read webhooks; event not sent"),
    );
  };

  /** Resolves when nothing is queued or in flight (tests, and a graceful stop). */
  idle(): Promise<void> {
    if (this.queue.size === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops: queued deliveries are dropped, POSTs in flight aborted. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.registrations.close();
    const left = this.queue.clear();
    for (const delivery of left) clearTimeout(delivery.timer);
    this.abort.abort();
    if (left.length > 0)
      this.logger.info({ deliveries: left.length }, "webhook deliveries left unsent at stop");
    this.wakeIdle();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.settings.concurrency) {
      const delivery = this.queue.take();
      if (!delivery) break;
      this.inFlight++;
      void this.attempt(delivery);
    }
    this.wakeIdle();
  }

  private async attempt(delivery: QueuedDelivery): Promise<void> {
    delivery.attempts++;
    const timestamp = Math.floor(this.now() / 1000);
    const result: AttemptResult = await this.post({
      url: delivery.hook.url,
      body: delivery.body,
      timeoutMs: this.settings.timeoutMs,
      signal: this.abort.signal,
      headers: {
        "content-type": "application/json",
        "user-agent": "relayfleet-webhooks/1",
        [SIGNATURE_HEADER]: signatureHeader(delivery.hook.secret, timestamp, delivery.body),
        "x-relayfleet-event": delivery.type,
        "x-relayfleet-delivery": delivery.eventId,
        "x-relayfleet-attempt": String(delivery.attempts),
        "x-relayfleet-webhook": delivery.hook.id,
      },
    }).catch((error: unknown) => ({ kind: "network" as const, message: String(error) }));
    this.queue.finished(delivery);
    this.inFlight--;
    if (!this.closed) this.settle(delivery, result);
    this.pump();
  }

  private settle(delivery: QueuedDelivery, result: AttemptResult): void {
    const step = nextStep(result, delivery.attempts, this.settings.retry, this.random);
    const where = { account: delivery.hook.account, webhook: delivery.hook.id, event: delivery.eventId };
    if (step.kind === "delivered") {
      this.count("delivered");
      return;
    }
    if (step.kind === "failed") {
      this.count(result.kind === "refused" ? "refused" : "failed");
      this.logger.warn(
        { ...where, reason: step.reason, attempts: delivery.attempts },
        "webhook not delivered",
      );
      return;
    }
    this.count("retried");
    this.logger.debug({ ...where, reason: step.reason, delayMs: step.delayMs }, "webhook will be retried");
    this.dropped(this.queue.park(delivery));
    delivery.timer = setTimeout(() => {
      delivery.timer = undefined;
      if (this.queue.unpark(delivery)) this.pump();
    }, step.delayMs);
    delivery.timer.unref();
  }

  private dropped(deliveries: QueuedDelivery[]): void {
    if (deliveries.length === 0) return;
    for (const delivery of deliveries) clearTimeout(delivery.timer);
    this.count("dropped", deliveries.length);
    this.droppedSinceWarning += deliveries.length;
    // One warning a minute at most: a flood that fills the queue must not flood the log too.
    if (this.now() - this.lastDropWarning >= 60_000) {
      this.logger.warn(
        { dropped: this.droppedSinceWarning, capacity: this.settings.queueCapacity },
        "webhook queue full; oldest deliveries dropped",
      );
      this.lastDropWarning = this.now();
      this.droppedSinceWarning = 0;
    }
  }

  private count(result: DeliveryResult, by = 1): void {
    this.counter?.inc({ result }, by);
  }

  private wakeIdle(): void {
    if (this.queue.size !== 0 || this.inFlight !== 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

function deliveriesCounter(registry: Registry): Counter<"result"> {
  const existing = registry.getSingleMetric(DELIVERIES_METRIC);
  if (existing) return existing as Counter<"result">;
  return new Counter({
    name: DELIVERIES_METRIC,
    help: "Webhook POSTs and queued deliveries by result: delivered, retried, failed, refused, dropped",
    labelNames: ["result"] as const,
    registers: [registry],
  });
}

function queueGauge(registry: Registry, size: () => number): void {
  if (registry.getSingleMetric(QUEUE_METRIC)) return;
  new Gauge({
    name: QUEUE_METRIC,
    help: "Webhook deliveries queued in this process (ready or waiting to retry)",
    registers: [registry],
    collect() {
      this.set(size());
    },
  });
}
