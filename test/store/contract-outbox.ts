/**
 * Store contract: the webhook outbox (enqueue, claim with a lease, finish,
 * retry, the per-account cap), what makes webhooks at least once across
 * restarts and single-sent by a fleet while its relays live.
 */
import { describe, expect, it } from "vitest";
import { type Store, StoreError } from "../../relay/store/types.js";
import type { NewWebhookDelivery } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { account } from "./fixtures.js";

const LEASE = 30_000;

function delivery(id: string, createdAt: number, webhookId = "wh_1"): NewWebhookDelivery {
  return { id, webhookId, eventType: "open", body: JSON.stringify({ id, n: createdAt }), createdAt };
}

function claimAt(
  store: Store,
  now: number,
  extra: Partial<Parameters<Store["claimWebhookDeliveries"]>[0]> = {},
) {
  return store.claimWebhookDeliveries({
    owner: "relay-a",
    now,
    leaseMs: LEASE,
    limit: 100,
    perWebhook: 100,
    ...extra,
  });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

export function describeOutboxContract(harness: StoreHarness): void {
  describe("webhook outbox", () => {
    it("hands out due deliveries oldest first, each once while its claim holds, counting the attempt", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries("acme", [delivery("d2", t + 2), delivery("d1", t + 1)], 100);
      await store.enqueueWebhookDeliveries("acme", [delivery("d3", t + 3)], 100);
      expect(await store.countWebhookDeliveries("acme")).toBe(3);
      expect(await claimAt(store, t)).toEqual([]);

      const claimed = await claimAt(store, t + 2);
      expect(claimed.map((d) => d.id)).toEqual(["d1", "d2"]);
      expect(claimed[0]).toEqual({
        ...delivery("d1", t + 1),
        account: "acme",
        attempts: 1,
        claim: expect.any(String),
        reclaimed: false,
      });
      expect(await claimAt(store, t + 10)).toMatchObject([{ id: "d3", attempts: 1 }]);
      // Held by their claims until the lease ends.
      expect(await claimAt(store, t + 10 + LEASE - 100)).toEqual([]);
      expect(await store.countWebhookDeliveries()).toBe(3);
    });

    it("ignores an id enqueued again, and refuses malformed input", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries("acme", [delivery("d1", t)], 100);
      await store.enqueueWebhookDeliveries("acme", [{ ...delivery("d1", t), body: "changed" }], 100);
      expect(await claimAt(store, t)).toMatchObject([{ id: "d1", body: delivery("d1", t).body }]);
      for (const bad of [
        store.enqueueWebhookDeliveries("acme", [{ ...delivery("d 2", t) }], 100),
        store.enqueueWebhookDeliveries("acme", [{ ...delivery("d2", t), webhookId: "a|b" }], 100),
        store.enqueueWebhookDeliveries("acme", [delivery("d2", t)], 0),
        store.enqueueWebhookDeliveries("", [delivery("d2", t)], 10),
        claimAt(store, t, { leaseMs: 0 }),
      ]) {
        const error = await failure(bad);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).code).toBe("invalid");
      }
      expect(await store.countWebhookDeliveries()).toBe(1);
    });

    it("removes a finished delivery, and only for the claim that holds it", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries("acme", [delivery("d1", t), delivery("d2", t + 1)], 100);
      const [first, second] = await claimAt(store, t + 1);
      if (!first || !second) throw new Error("expected two claims");
      expect(await store.finishWebhookDelivery({ ...first, claim: "relay-b/1" })).toBe(false);
      expect(await store.finishWebhookDelivery(first)).toBe(true);
      expect(await store.finishWebhookDelivery(first)).toBe(false);
      expect(await store.countWebhookDeliveries("acme")).toBe(1);
      expect(await claimAt(store, t + LEASE + 10)).toMatchObject([{ id: "d2", reclaimed: true }]);
    });

    it("releases a retried delivery until its due time, then hands it out with the next attempt", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries("acme", [delivery("d1", t)], 100);
      const [claimed] = await claimAt(store, t);
      if (!claimed) throw new Error("expected a claim");
      expect(await store.retryWebhookDelivery({ ...claimed, claim: "other/1" }, t + 5_000)).toBe(false);
      expect(await store.retryWebhookDelivery(claimed, t + 5_000)).toBe(true);
      expect(await store.retryWebhookDelivery(claimed, t + 5_000)).toBe(false);
      expect(await claimAt(store, t + 4_999)).toEqual([]);
      const [again] = await claimAt(store, t + 5_000, { owner: "relay-b" });
      expect(again).toMatchObject({ id: "d1", attempts: 2, reclaimed: false });
      expect(again?.claim).not.toBe(claimed.claim);
    });

    it("gives a lapsed claim's delivery to the next claimer, marked reclaimed; the lapsed claim can no longer settle it", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries("acme", [delivery("d1", t)], 100);
      const [stale] = await claimAt(store, t);
      if (!stale) throw new Error("expected a claim");
      const [taken] = await claimAt(store, t + LEASE, { owner: "relay-b" });
      expect(taken).toMatchObject({ id: "d1", attempts: 2, reclaimed: true });
      if (!taken) throw new Error("expected a claim");
      expect(await store.retryWebhookDelivery(stale, t + LEASE)).toBe(false);
      expect(await store.finishWebhookDelivery(stale)).toBe(false);
      expect(await claimAt(store, t + LEASE + 1)).toEqual([]);
      expect(await store.finishWebhookDelivery(taken)).toBe(true);
      expect(await store.countWebhookDeliveries()).toBe(0);
    });

    it("takes at most perWebhook of one webhook, busy ones counted, and passes over the rest for a while", async () => {
      const store = await harness.open();
      const t = Date.now();
      const ofA = Array.from({ length: 5 }, (_, i) => delivery(`a${i}`, t + i, "wh_a"));
      await store.enqueueWebhookDeliveries("acme", ofA, 100);
      await store.enqueueWebhookDeliveries(
        "acme",
        [delivery("b0", t + 10, "wh_b"), delivery("b1", t + 11, "wh_b")],
        100,
      );
      const claimed = await claimAt(store, t + 20, {
        perWebhook: 2,
        busy: [{ account: "acme", webhookId: "wh_a", count: 1 }],
        skipDelayMs: 1_000,
      });
      expect(claimed.map((d) => d.id)).toEqual(["a0", "b0", "b1"]);
      // a1..a4 were passed over: not due again until a second later.
      expect(await claimAt(store, t + 500)).toEqual([]);
      expect((await claimAt(store, t + 1_020)).map((d) => d.id)).toEqual(["a1", "a2", "a3", "a4"]);
    });

    it("stops at the claim's limit", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries(
        "acme",
        Array.from({ length: 6 }, (_, i) => delivery(`d${i}`, t + i)),
        100,
      );
      expect((await claimAt(store, t + 10, { limit: 4 })).map((d) => d.id)).toEqual(["d0", "d1", "d2", "d3"]);
      expect(await claimAt(store, t + 10, { limit: 0 })).toEqual([]);
      expect((await claimAt(store, t + 10)).map((d) => d.id)).toEqual(["d4", "d5"]);
    });

    it("keeps at most maxPerAccount per account, dropping the oldest enqueued (claimed ones too) and saying how many", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.enqueueWebhookDeliveries("acme", [delivery("d0", t), delivery("d1", t + 1)], 3);
      expect(await claimAt(store, t)).toMatchObject([{ id: "d0" }]);
      expect(await store.enqueueWebhookDeliveries("beta", [delivery("x0", t)], 3)).toEqual({ dropped: 0 });
      const result = await store.enqueueWebhookDeliveries(
        "acme",
        [delivery("d2", t + 2), delivery("d3", t + 3), delivery("d4", t + 4)],
        3,
      );
      expect(result).toEqual({ dropped: 2 });
      expect(await store.countWebhookDeliveries("acme")).toBe(3);
      expect(await store.countWebhookDeliveries("beta")).toBe(1);
      expect((await claimAt(store, t + 10)).map((d) => d.id).sort()).toEqual(["d2", "d3", "d4", "x0"]);
      // Room again once deliveries are finished.
      const [next] = await claimAt(store, t + 10 + LEASE);
      if (!next) throw new Error("expected a claim");
      expect(await store.finishWebhookDelivery(next)).toBe(true);
      expect(await store.enqueueWebhookDeliveries(next.account, [delivery("new", t + 20)], 3)).toEqual({
        dropped: 0,
      });
    });

    it("never hands one delivery to two claimers at once", async () => {
      const { writer, peer } = await harness.openPair();
      const t = Date.now();
      await writer.enqueueWebhookDeliveries(
        "acme",
        Array.from({ length: 60 }, (_, i) => delivery(`d${i}`, t + i)),
        1000,
      );
      const rounds = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          claimAt(i % 2 === 0 ? writer : peer, t + 100, { owner: `relay-${i}`, limit: 15 }),
        ),
      );
      const ids = rounds.flat().map((d) => d.id);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
    });

    it("deletes an account's deliveries with the account", async () => {
      const store = await harness.open();
      const t = Date.now();
      await store.putAccount(account("acme"));
      await store.putAccount(account("beta"));
      await store.enqueueWebhookDeliveries("acme", [delivery("d1", t)], 10);
      await store.enqueueWebhookDeliveries("beta", [delivery("d2", t)], 10);
      expect(await store.deleteAccount("acme")).toBe(true);
      expect(await store.countWebhookDeliveries("acme")).toBe(0);
      expect((await claimAt(store, t)).map((d) => d.id)).toEqual(["d2"]);
      await store.enqueueWebhookDeliveries("acme", [delivery("d3", t)], 1);
      expect(await store.countWebhookDeliveries("acme")).toBe(1);
    });

    it("keeps deliveries and their claims across a close and reopen", async () => {
      if (!harness.backingState) throw new Error("every adapter in this suite can reopen its state");
      const openOnState = await harness.backingState();
      const first = await openOnState();
      const t = Date.now();
      await first.enqueueWebhookDeliveries("acme", [delivery("d1", t), delivery("d2", t + 1)], 10);
      await claimAt(first, t);
      await harness.close(first);
      const second = await openOnState();
      expect((await claimAt(second, t + 1)).map((d) => d.id)).toEqual(["d2"]);
      expect(await claimAt(second, t + LEASE)).toMatchObject([{ id: "d1", attempts: 2, reclaimed: true }]);
    });
  });
}
