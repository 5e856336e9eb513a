/**
 * Two relays' dispatchers on one Redis (a fleet): both take deliveries from
 * the shared outbox, and while both live no event is POSTed twice.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { accountSchema } from "../../relay/accounts/schema.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { WebhookDispatcher, withEventTap } from "../../relay/webhooks/index.js";
import { startReceiver } from "./receiver.js";

const EVENTS = 60;

describe("webhooks from a fleet sharing Redis", () => {
  it("splits the outbox between live relays without sending any event twice", async () => {
    const prefix = `tf:${randomBytes(6).toString("hex")}:`;
    const relays = await Promise.all(
      ["a", "b"].map(async (name) => {
        const store = await openRedisStore({ url: inject("redisUrl"), prefix });
        const metrics = createMetrics({ defaultMetrics: false });
        const dispatcher = new WebhookDispatcher({
          store,
          owner: `relay-${name}`,
          registry: metrics.registry,
          settings: { allowPrivateTargets: ["127.0.0.0/8"], pollMs: 20, perHookConcurrency: 2 },
        });
        onTestFinished(async () => {
          await dispatcher.close();
          await store.close();
        });
        const delivered = async () =>
          (await metrics.registry.getSingleMetric("relayfleet_webhook_deliveries_total")?.get())?.values.find(
            (v) => v.labels.result === "delivered",
          )?.value ?? 0;
        return { store: withEventTap(store, dispatcher.onEvent), delivered };
      }),
    );
    const [a, b] = relays as [(typeof relays)[0], (typeof relays)[0]];
    const receiver = await startReceiver();
    const now = Date.now();
    await a.store.putAccount(accountSchema.parse({ name: "acme", createdAt: now, updatedAt: now }));
    await a.store.putWebhook({
      id: "wh_fleet",
      account: "acme",
      url: receiver.url,
      events: ["open"],
      secret: "whsec_fleet-test-secret-0000",
      createdAt: now,
      active: true,
    });
    await a.store.recordMessage({
      id: "Mfleet",
      account: "acme",
      from: "news@acme.example",
      recipients: ["reader@example.org"],
      size: 10,
      acceptedAt: now,
    });
    // Events recorded half through each relay.
    for (let i = 0; i < EVENTS; i++)
      await (i % 2 === 0 ? a : b).store.recordEvent({
        type: "open",
        messageId: "Mfleet",
        recipient: "reader@example.org",
        at: now + i,
      });
    await receiver.waitFor(EVENTS, 30_000);
    // Give a double send the time to show.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ids = receiver.posts.map((p) => String(p.headers["x-relayfleet-delivery"]));
    expect(new Set(ids).size).toBe(EVENTS);
    expect(receiver.posts).toHaveLength(EVENTS);
    const [byA, byB] = [await a.delivered(), await b.delivered()];
    expect(byA + byB).toBe(EVENTS);
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    expect(await a.store.countWebhookDeliveries()).toBe(0);
    console.log(
      `fleet of 2 on one Redis: ${EVENTS} events, POSTs ${receiver.posts.length}, by relay a ${byA}, by b ${byB}`,
    );
  }, 60_000);
});
