/**
 * Store contract: writes racing each other. types.ts: "Every write that must
 * be atomic is atomic"; when there are two instances, half the writes go
 * through each, so two connections race for real.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../relay/store/types.js";
import type { StoreHarness } from "./contract-harness.js";
import { attempt, currentHour, event, newMessage } from "./fixtures.js";

function alternate<T>(stores: Store[], count: number, call: (store: Store, i: number) => Promise<T>) {
  return Promise.all(Array.from({ length: count }, (_, i) => call(stores[i % stores.length] as Store, i)));
}

export function describeConcurrencyContract(harness: StoreHarness): void {
  describe("concurrent writes", () => {
    it("calls exactly one of many racing opens of one recipient unique", async () => {
      const { writer, peer } = await harness.openPair();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
      await writer.recordMessage(message);

      const results = await alternate([writer, peer], 20, (store, i) =>
        store.recordEvent(event("open", message.id, "a@example.org", t + i)),
      );
      expect(results.filter((r) => r.unique)).toHaveLength(1);
      expect(results.every((r) => r.recorded)).toBe(true);
      expect(await writer.getMessageStats(message.id)).toMatchObject({ opens: 20, uniqueOpens: 1 });
    });

    it("loses no recipient's attempt when every recipient of one message is delivered at once", async () => {
      const { writer, peer } = await harness.openPair();
      const t = currentHour();
      const recipients = Array.from({ length: 12 }, (_, i) => `r${i}@example.org`);
      const message = newMessage({ acceptedAt: t, recipients });
      await writer.recordMessage(message);

      await alternate([writer, peer], recipients.length, (store, i) =>
        store.recordAttempt(message.id, recipients[i] as string, attempt("delivered", t + 1000 + i)),
      );
      const stored = await writer.getMessage(message.id);
      expect(stored?.recipients.every((r) => r.status === "delivered" && r.attempts.length === 1)).toBe(true);
      expect(stored?.events).toHaveLength(recipients.length);
      expect(await writer.getMessageStats(message.id)).toMatchObject({ recipients: 12, delivered: 12 });
    });

    it("logs a message recorded by racing callers once", async () => {
      const { writer, peer } = await harness.openPair();
      const message = newMessage({
        acceptedAt: currentHour(),
        recipients: ["a@example.org", "b@example.org"],
      });
      await alternate([writer, peer], 10, (store) => store.recordMessage(message));
      expect((await writer.listMessages("acme")).items.map((m) => m.id)).toEqual([message.id]);
      expect((await writer.getMessageStats(message.id))?.recipients).toBe(2);
    });

    it("creates a group once when many callers add it at the same time", async () => {
      const { writer, peer } = await harness.openPair();
      const now = currentHour();
      const results = await alternate([writer, peer], 10, (store, i) =>
        store.addGroup("acme", "race", now + i),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await writer.listGroups("acme")).toHaveLength(1);
    });
  });
}
