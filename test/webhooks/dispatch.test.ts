/**
 * Webhook delivery over real HTTP: a tracking server on a tapped store (both
 * adapters), the dispatcher, and a receiver on loopback that answers as each
 * test scripts it (200, 500, 404, 429, or never).
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { describe, expect, it, onTestFinished } from "vitest";
import { accountSchema } from "../../relay/accounts/schema.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { type Store, StoreError } from "../../relay/store/types.js";
import { startTrackingServer } from "../../relay/tracking/server.js";
import { makeKeyring, signToken } from "../../relay/tracking/token.js";
import type { EventType, NewMessage } from "../../relay/vocabulary.js";
import {
  SIGNATURE_HEADER,
  verifySignature,
  WebhookDispatcher,
  type WebhookSettings,
  withEventTap,
} from "../../relay/webhooks/index.js";
import { openTestStore, type StoreKind } from "../tracking/fixture.js";
import { startReceiver } from "./receiver.js";

const SECRET = "whsec_dispatch-test-secret-000";
const FAST: Partial<WebhookSettings> = {
  allowPrivateTargets: ["127.0.0.0/8"],
  timeoutMs: 300,
  retry: { maxAttempts: 4, baseDelayMs: 40, maxDelayMs: 200 },
  pollMs: 50,
};

interface Setup {
  store: Store;
  dispatcher: WebhookDispatcher;
  metrics: ReturnType<typeof createMetrics>;
  message: NewMessage;
  pixel(recipient?: string): string;
  click(recipient?: string): string;
  hook(url: string, events?: EventType[]): Promise<void>;
  results(): Promise<Record<string, number>>;
}

async function setup(kind: StoreKind = "local", settings: Partial<WebhookSettings> = FAST): Promise<Setup> {
  const backing = await openTestStore(kind);
  const metrics = createMetrics({ defaultMetrics: false });
  const dispatcher = new WebhookDispatcher({ store: backing, settings, registry: metrics.registry });
  const store = withEventTap(backing, dispatcher.onEvent);
  const now = Date.now();
  await store.putAccount(accountSchema.parse({ name: "acme", createdAt: now, updatedAt: now }));
  const message: NewMessage = {
    id: `M${randomBytes(6).toString("hex")}`,
    account: "acme",
    from: "news@acme.example",
    recipients: ["reader@example.org"],
    size: 100,
    acceptedAt: now,
    group: "spring",
  };
  await store.recordMessage(message);
  const keys = makeKeyring({ id: "k1", secret: randomBytes(32) });
  const server = await startTrackingServer({ store, keys, metrics }, "127.0.0.1", 0);
  onTestFinished(async () => {
    await dispatcher.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await backing.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    store,
    dispatcher,
    metrics,
    message,
    pixel: (recipient = "reader@example.org") =>
      `${base}/o/${signToken(keys, { kind: "open", messageId: message.id, recipient })}.gif`,
    click: (recipient = "reader@example.org") =>
      `${base}/c/${signToken(keys, { kind: "click", messageId: message.id, recipient, url: "https://acme.example/sale", linkIndex: 0 })}`,
    async hook(url, events = ["open"]) {
      await backing.putWebhook({
        id: `wh_${randomBytes(4).toString("hex")}`,
        account: "acme",
        url,
        events,
        secret: SECRET,
        createdAt: Date.now(),
        active: true,
      });
    },
    async results() {
      const values = (await metrics.registry.getSingleMetric("relayfleet_webhook_deliveries_total")?.get())
        ?.values;
      return Object.fromEntries((values ?? []).map((v) => [String(v.labels.result), v.value]));
    },
  };
}

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" };

describe.each<StoreKind>(["local", "redis"])("webhooks from the tracking server (%s store)", (kind) => {
  it("POSTs a signed open to the webhook registered for opens, and nothing to one for clicks only", async () => {
    const t = await setup(kind);
    const opens = await startReceiver();
    const clicks = await startReceiver();
    await t.hook(opens.url, ["open", "delivered"]);
    await t.hook(clicks.url, ["click"]);

    expect((await fetch(t.pixel(), { headers: BROWSER })).status).toBe(200);
    const [post] = await opens.waitFor(1);
    await t.dispatcher.idle();

    const check = verifySignature(String(post?.headers[SIGNATURE_HEADER]), SECRET, post?.body ?? "");
    expect(check).toMatchObject({ valid: true });
    expect(post?.headers["content-type"]).toBe("application/json");
    expect(post?.headers["x-relayfleet-event"]).toBe("open");
    const payload = JSON.parse(post?.body ?? "{}");
    expect(payload).toMatchObject({
      type: "open",
      account: "acme",
      group: "spring",
      messageId: t.message.id,
      recipient: "reader@example.org",
      unique: true,
      bot: false,
      userAgent: BROWSER["user-agent"],
    });
    expect(payload.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(post?.headers["x-relayfleet-delivery"]).toBe(payload.id);
    expect(Math.abs(payload.at - Date.now())).toBeLessThan(10_000);
    expect(clicks.posts).toEqual([]);
    expect(await t.results()).toEqual({ delivered: 1 });

    // Delivery attempts reach webhooks through the same tap.
    await t.store.recordAttempt(t.message.id, "reader@example.org", {
      at: Date.now(),
      sender: "out1",
      outcome: "delivered",
      answer: "250 ok",
    });
    const second = (await opens.waitFor(2))[1];
    expect(JSON.parse(second?.body ?? "{}")).toMatchObject({ type: "delivered", detail: "250 ok" });
  });
});

describe("webhook retries, timeouts and limits", () => {
  it("retries a receiver that answers 500 twice, delivering on the third try with the same event id", async () => {
    const t = await setup();
    const receiver = await startReceiver((i) => (i < 2 ? 500 : 200));
    await t.hook(receiver.url);
    await fetch(t.pixel(), { headers: BROWSER });
    const posts = await receiver.waitFor(3);
    await t.dispatcher.idle();
    expect(posts.map((p) => p.headers["x-relayfleet-attempt"])).toEqual(["1", "2", "3"]);
    expect(new Set(posts.map((p) => JSON.parse(p.body).id)).size).toBe(1);
    for (const post of posts)
      expect(verifySignature(String(post.headers[SIGNATURE_HEADER]), SECRET, post.body).valid).toBe(true);
    // Backoff: the waits grow (40 ms base, equal jitter: 20-40 ms, then 40-80 ms).
    const [first, second, third] = posts.map((p) => p.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(15);
    expect(third - second).toBeGreaterThanOrEqual(35);
    expect(await t.results()).toEqual({ retried: 2, delivered: 1 });
  });

  it("gives up at once on a 404, retries a 429, and stops after maxAttempts", async () => {
    const t = await setup();
    const gone = await startReceiver(() => 404);
    await t.hook(gone.url);
    await fetch(t.pixel(), { headers: BROWSER });
    await t.dispatcher.idle();
    expect(gone.posts).toHaveLength(1);
    expect(await t.results()).toEqual({ failed: 1 });

    const t2 = await setup();
    const busy = await startReceiver(() => 429);
    await t2.hook(busy.url);
    await fetch(t2.pixel(), { headers: BROWSER });
    await busy.waitFor(4);
    await t2.dispatcher.idle();
    expect(busy.posts).toHaveLength(4);
    expect(await t2.results()).toEqual({ retried: 3, failed: 1 });
  });

  it("keeps serving the pixel fast while a receiver hangs, and times the hanging POST out", async () => {
    // Each POST hangs for the whole timeout, so a pixel that waited for its POST would take at
    // least that long; a pixel answered sooner did not wait. How fast it answers is a benchmark
    // figure (bench/scenarios/responsiveness.ts), not asserted here.
    const postTimeoutMs = 2_000;
    const t = await setup("local", { ...FAST, timeoutMs: postTimeoutMs });
    const hanging = await startReceiver(() => "hang");
    await t.hook(hanging.url);
    await fetch(t.pixel(), { headers: BROWSER });
    await hanging.waitFor(1);
    for (let i = 0; i < 20; i++) {
      const answer = await fetch(t.pixel(), { headers: BROWSER, signal: AbortSignal.timeout(postTimeoutMs) });
      expect(answer.status).toBe(200);
    }
    // Each POST ends at its timeout and is retried, so the hang is counted, not waited on.
    await expect
      .poll(async () => (await t.results()).retried ?? 0, { timeout: postTimeoutMs + 8_000 })
      .toBeGreaterThanOrEqual(1);
    expect((await t.results()).delivered).toBeUndefined();
  });

  it("drops the account's oldest deliveries past its outbox cap, and counts them", async () => {
    const t = await setup("local", {
      ...FAST,
      concurrency: 1,
      perHookConcurrency: 1,
      maxOutstandingPerAccount: 2,
      timeoutMs: 2000,
    });
    const hanging = await startReceiver(() => "hang");
    await t.hook(hanging.url);
    await fetch(t.pixel(), { headers: BROWSER });
    await hanging.waitFor(1);
    for (let i = 0; i < 5; i++) await fetch(t.pixel(), { headers: BROWSER });
    // Six in the outbox with room for two: the four oldest (the one in flight too) pushed out.
    await expect.poll(async () => (await t.results()).dropped, { timeout: 2000 }).toBe(4);
    expect(await t.store.countWebhookDeliveries("acme")).toBe(2);
    const gauge = await t.metrics.registry.getSingleMetric("relayfleet_webhook_queue")?.get();
    expect(gauge?.values[0]?.value).toBe(2);
  });

  it("keeps an event the outbox refused in memory, and queues and sends it once the store takes writes again", async () => {
    const backing = await openTestStore("local");
    onTestFinished(() => backing.close());
    // The store fails between the event's write and the outbox's (the one interleaving a real outage cannot be
    // timed to hit): its first two enqueues are refused as unavailable.
    let refusals = 2;
    const flaky: Store = new Proxy(backing, {
      get(target, property) {
        if (property === "enqueueWebhookDeliveries")
          return (...args: Parameters<Store["enqueueWebhookDeliveries"]>) => {
            if (refusals-- > 0) return Promise.reject(new StoreError("unavailable", "test: store down"));
            return target.enqueueWebhookDeliveries(...args);
          };
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const dispatcher = new WebhookDispatcher({ store: flaky, settings: FAST });
    onTestFinished(() => dispatcher.close());
    const store = withEventTap(backing, dispatcher.onEvent);
    const receiver = await startReceiver();
    const now = Date.now();
    await backing.putAccount(accountSchema.parse({ name: "acme", createdAt: now, updatedAt: now }));
    await backing.putWebhook({
      id: "wh_1",
      account: "acme",
      url: receiver.url,
      events: ["open"],
      secret: SECRET,
      createdAt: now,
      active: true,
    });
    await backing.recordMessage({
      id: "Mflaky",
      account: "acme",
      from: "",
      recipients: ["r@x.example"],
      size: 1,
      acceptedAt: now,
    });
    const result = await store.recordEvent({
      type: "open",
      messageId: "Mflaky",
      recipient: "r@x.example",
      at: now,
    });
    expect(result.recorded).toBe(true);
    expect(await backing.countWebhookDeliveries()).toBe(0);
    const [post] = await receiver.waitFor(1, 5000);
    expect(JSON.parse(post?.body ?? "{}")).toMatchObject({ type: "open", messageId: "Mflaky" });
    expect(refusals).toBeLessThan(0);
  });

  it("refuses a loopback target unless it is allowed, and never calls it", async () => {
    const t = await setup("local", { ...FAST, allowPrivateTargets: [] });
    const receiver = await startReceiver();
    await t.hook(receiver.url);
    await t.hook(receiver.url.replace("127.0.0.1", "localhost"));
    await fetch(t.pixel(), { headers: BROWSER });
    await expect.poll(async () => (await t.results()).refused, { timeout: 2000 }).toBe(2);
    await t.dispatcher.idle();
    expect(receiver.posts).toEqual([]);
  });

  it("reaches a name that resolves to an allowed address (the check runs in the socket's lookup)", async () => {
    const t = await setup("local", { ...FAST, allowPrivateTargets: ["127.0.0.0/8", "::1"] });
    const receiver = await startReceiver();
    await t.hook(receiver.url.replace("127.0.0.1", "localhost"));
    await fetch(t.pixel(), { headers: BROWSER });
    await receiver.waitFor(1);
    await t.dispatcher.idle();
    expect(await t.results()).toEqual({ delivered: 1 });
  });

  it("stops sending to a webhook once it is deleted", async () => {
    const t = await setup();
    const receiver = await startReceiver();
    await t.hook(receiver.url, ["open", "click"]);
    await fetch(t.pixel(), { headers: BROWSER });
    await receiver.waitFor(1);
    const [registered] = await t.store.listWebhooks("acme");
    await t.store.deleteWebhook("acme", registered?.id ?? "");
    // The change notice reaches the dispatcher's cache on a later turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await fetch(t.click(), { redirect: "manual", headers: BROWSER });
    await fetch(t.pixel(), { headers: BROWSER });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await t.dispatcher.idle();
    expect(receiver.posts).toHaveLength(1);
  });
});
