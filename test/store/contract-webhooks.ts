/** Store contract: webhook registrations (put, list, delete) and what deleting an account does to them. */
import { describe, expect, it, vi } from "vitest";
import { type StoreChange, StoreError } from "../../relay/store/types.js";
import type { WebhookRecord } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { account } from "./fixtures.js";

function webhook(accountName: string, id: string, overrides: Partial<WebhookRecord> = {}): WebhookRecord {
  return {
    id,
    account: accountName,
    url: `https://hooks.example.org/${id}`,
    events: ["open", "click"],
    secret: `whsec_${id.padEnd(24, "x")}`,
    createdAt: Date.now(),
    active: true,
    ...overrides,
  };
}

export function describeWebhookContract(harness: StoreHarness): void {
  describe("webhooks", () => {
    it("stores webhooks per account and lists them oldest first, secret included", async () => {
      const store = await harness.open();
      const t = Date.now();
      const late = webhook("acme", "wh_b", { createdAt: t + 10, events: ["bounced"], active: false });
      const early = webhook("acme", "wh_z", { createdAt: t, url: "http://127.0.0.1:9/x?y=1" });
      const tie = webhook("acme", "wh_a", { createdAt: t + 10 });
      const other = webhook("beta", "wh_c", { createdAt: t - 5 });
      for (const hook of [late, early, tie, other]) await store.putWebhook(hook);

      expect(await store.listWebhooks("acme")).toEqual([early, tie, late]);
      expect(await store.listWebhooks("beta")).toEqual([other]);
      expect(await store.listWebhooks("nobody")).toEqual([]);
    });

    it("replaces a webhook put again under the same id", async () => {
      const store = await harness.open();
      await store.putWebhook(webhook("acme", "wh_1"));
      const replaced = webhook("acme", "wh_1", {
        events: ["delivered"],
        active: false,
        url: "https://b.example",
      });
      await store.putWebhook(replaced);
      expect(await store.listWebhooks("acme")).toEqual([replaced]);
    });

    it("deletes one webhook of one account, telling whether it existed", async () => {
      const store = await harness.open();
      await store.putWebhook(webhook("acme", "wh_1"));
      await store.putWebhook(webhook("acme", "wh_2"));
      await store.putWebhook(webhook("beta", "wh_1"));
      expect(await store.deleteWebhook("acme", "wh_1")).toBe(true);
      expect(await store.deleteWebhook("acme", "wh_1")).toBe(false);
      expect(await store.deleteWebhook("acme", "wh_nope")).toBe(false);
      expect((await store.listWebhooks("acme")).map((w) => w.id)).toEqual(["wh_2"]);
      expect((await store.listWebhooks("beta")).map((w) => w.id)).toEqual(["wh_1"]);
    });

    it("refuses a webhook that is not http(s), has no events or a short secret", async () => {
      const store = await harness.open();
      for (const bad of [
        webhook("acme", "wh_1", { url: "ftp://example.org/x" }),
        webhook("acme", "wh_1", { url: "not a url" }),
        webhook("acme", "wh_1", { events: [] }),
        webhook("acme", "wh_1", { secret: "short" }),
      ]) {
        const failure = await store.putWebhook(bad).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toBeInstanceOf(StoreError);
        expect((failure as StoreError).code).toBe("invalid");
      }
      expect(await store.listWebhooks("acme")).toEqual([]);
    });

    it("deletes an account's webhooks with the account, so a new account of that name starts without any", async () => {
      const store = await harness.open();
      await store.putAccount(account("acme"));
      await store.putAccount(account("beta"));
      await store.putWebhook(webhook("acme", "wh_1"));
      await store.putWebhook(webhook("beta", "wh_1"));
      expect(await store.deleteAccount("acme")).toBe(true);
      expect(await store.listWebhooks("acme")).toEqual([]);
      expect(await store.listWebhooks("beta")).toHaveLength(1);
      await store.putAccount(account("acme"));
      expect(await store.listWebhooks("acme")).toEqual([]);
    });

    it("announces webhook changes to the account's listeners", async () => {
      const { writer, peer } = await harness.openPair();
      const seen: StoreChange[] = [];
      peer.onChange((change) => seen.push(change));
      await writer.putWebhook(webhook("acme", "wh_1"));
      await vi.waitFor(() => expect(seen).toContainEqual({ kind: "webhooks", account: "acme" }), {
        timeout: 3000,
        interval: 20,
      });
      seen.length = 0;
      await writer.deleteWebhook("acme", "wh_1");
      await vi.waitFor(() => expect(seen).toContainEqual({ kind: "webhooks", account: "acme" }), {
        timeout: 3000,
        interval: 20,
      });
    });

    it("keeps webhooks across a close and reopen", async () => {
      if (!harness.backingState) throw new Error("every adapter in this suite can reopen its state");
      const openOnState = await harness.backingState();
      const first = await openOnState();
      const hook = webhook("acme", "wh_1", { events: ["open", "unsubscribe", "complaint"] });
      await first.putWebhook(hook);
      await harness.close(first);
      const second = await openOnState();
      expect(await second.listWebhooks("acme")).toEqual([hook]);
    });
  });
}
