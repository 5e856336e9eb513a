/** Store contract: tracking and delivery events, and per-message stats. */
import { describe, expect, it } from "vitest";
import { EMPTY_STATS, type StoredEvent } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { attempt, currentHour, event, newMessage } from "./fixtures.js";

export function describeEventContract(harness: StoreHarness): void {
  describe("events and message stats", () => {
    it("starts a message's stats at its recipient count", async () => {
      const store = await harness.open();
      const message = newMessage({
        acceptedAt: currentHour(),
        recipients: ["a@example.org", "b@example.org"],
      });
      await store.recordMessage(message);
      expect(await store.getMessageStats(message.id)).toEqual({ ...EMPTY_STATS, recipients: 2 });
      expect(await store.getMessageStats("NO-SUCH-ID")).toBeUndefined();
    });

    it("does not record events for an unknown message", async () => {
      const store = await harness.open();
      expect(await store.recordEvent(event("open", "NO-SUCH-ID", "a@example.org", currentHour()))).toEqual({
        recorded: false,
        unique: false,
      });
      expect(await store.getMessage("NO-SUCH-ID")).toBeUndefined();
    });

    it("counts all and unique opens and clicks, keeps bots apart, and counts the rest by distinct recipient", async () => {
      const store = await harness.open();
      const t = currentHour();
      const [r1, r2, r3, r4] = ["r1@example.org", "r2@example.org", "r3@example.org", "r4@example.org"];
      const message = newMessage({ acceptedAt: t, recipients: [r1, r2, r3, r4], group: "g" });
      await store.recordMessage(message);
      // Only the two flags here; the event each result carries has its own case below.
      const record = async (type: StoredEvent["type"], recipient: string, at: number, bot?: boolean) => {
        const { recorded, unique } = await store.recordEvent(
          event(type, message.id, recipient, t + at, bot ? { bot } : {}),
        );
        return { recorded, unique };
      };

      expect(await record("open", r1, 1)).toEqual({ recorded: true, unique: true });
      expect(await record("open", r1, 2)).toEqual({ recorded: true, unique: false });
      expect(await record("open", "R2@EXAMPLE.ORG", 3)).toEqual({ recorded: true, unique: true });
      expect(await record("open", r3, 4, true)).toEqual({ recorded: true, unique: false });
      expect(await record("open", r3, 5)).toEqual({ recorded: true, unique: true });
      expect(await record("open", r1, 6, true)).toEqual({ recorded: true, unique: false });
      expect(await record("click", r1, 7)).toEqual({ recorded: true, unique: true });
      expect(await record("click", r1, 8)).toEqual({ recorded: true, unique: false });
      expect(await record("click", r2, 9, true)).toEqual({ recorded: true, unique: false });
      expect(await record("unsubscribe", r2, 10)).toEqual({ recorded: true, unique: true });
      expect(await record("unsubscribe", r2, 11)).toEqual({ recorded: true, unique: false });
      expect(await record("complaint", r4, 12)).toEqual({ recorded: true, unique: true });
      expect(await record("deferred", r4, 13)).toEqual({ recorded: true, unique: true });
      expect(await record("deferred", r4, 14)).toEqual({ recorded: true, unique: false });
      expect(await record("deferred", r3, 15)).toEqual({ recorded: true, unique: true });
      expect(await record("delivered", r1, 16)).toEqual({ recorded: true, unique: true });
      expect(await record("delivered", r2, 17)).toEqual({ recorded: true, unique: true });
      expect(await record("delivered", r1, 18)).toEqual({ recorded: true, unique: false });

      expect(await store.getMessageStats(message.id)).toEqual({
        recipients: 4,
        delivered: 2,
        deferred: 2,
        bounced: 0,
        opens: 4,
        uniqueOpens: 3,
        clicks: 2,
        uniqueClicks: 1,
        unsubscribes: 1,
        complaints: 1,
        botOpens: 2,
        botClicks: 1,
      });
      const stored = await store.getMessage(message.id);
      // Only delivered and bounced events move a status.
      expect(stored?.recipients.map((r) => [r.address, r.status]).slice(0, 2)).toEqual([
        [r1, "delivered"],
        [r2, "delivered"],
      ]);
      expect(stored?.events).toHaveLength(18);
    });

    it("keeps every field of an event, with its account and group, oldest first", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"], group: "welcome" });
      await store.recordMessage(message);
      const click = event("click", message.id, "a@example.org", t + 5000, {
        ip: "198.51.100.7",
        userAgent: "Mozilla/5.0",
        country: "NL",
        url: "https://acme.com/offer?x=1",
        linkIndex: 2,
      });
      const open = event("open", message.id, "a@example.org", t + 3000, { bot: true, country: "US" });
      const complaint = event("complaint", message.id, "a@example.org", t + 9000, { detail: "abuse" });
      await store.recordEvent(click);
      await store.recordEvent(open);
      await store.recordEvent(complaint);

      const stored = await store.getMessage(message.id);
      const withOwner = (e: typeof click): StoredEvent => ({ ...e, account: "acme", group: "welcome" });
      expect(stored?.events).toEqual([withOwner(open), withOwner(click), withOwner(complaint)]);
    });

    it("answers a recorded event or attempt with the event as stored, with its account and group", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"], group: "welcome" });
      const plain = newMessage({ acceptedAt: t, recipients: ["b@example.org"] });
      await store.recordMessage(message);
      await store.recordMessage(plain);

      const click = event("click", message.id, "A@Example.org", t + 5, {
        ip: "198.51.100.7",
        url: "https://acme.com/offer",
        linkIndex: 0,
      });
      expect(await store.recordEvent(click)).toEqual({
        recorded: true,
        unique: true,
        event: { ...click, recipient: "a@example.org", account: "acme", group: "welcome" },
      });
      expect(await store.recordEvent(event("open", plain.id, "b@example.org", t + 6))).toEqual({
        recorded: true,
        unique: true,
        event: { type: "open", messageId: plain.id, recipient: "b@example.org", at: t + 6, account: "acme" },
      });

      // An attempt is recorded as its event: blocked counts as deferred, the answer is the detail.
      const blocked = attempt("blocked", t + 7);
      expect(await store.recordAttempt(message.id, "a@example.org", blocked)).toEqual({
        recorded: true,
        unique: true,
        event: {
          type: "deferred",
          messageId: message.id,
          recipient: "a@example.org",
          at: t + 7,
          detail: blocked.answer,
          account: "acme",
          group: "welcome",
        },
      });
      expect(
        await store.recordAttempt(message.id, "a@example.org", attempt("delivered", t + 8)),
      ).toMatchObject({
        recorded: true,
        event: { type: "delivered", recipient: "a@example.org" },
      });
      // Unknown message, or a recipient the message was not sent to: nothing recorded, no event.
      expect(await store.recordAttempt("NO-SUCH-ID", "a@example.org", attempt("delivered", t))).toEqual({
        recorded: false,
        unique: false,
      });
      expect(await store.recordAttempt(message.id, "z@example.org", attempt("delivered", t))).toEqual({
        recorded: false,
        unique: false,
      });
    });

    it("lets a later bounce report override delivered, counting the recipient in both", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org", "b@example.org"] });
      await store.recordMessage(message);
      await store.recordAttempt(message.id, "a@example.org", attempt("delivered", t + 1000));
      expect(
        await store.recordEvent(
          event("bounced", message.id, "a@example.org", t + 60_000, { detail: "5.1.1 user unknown" }),
        ),
      ).toMatchObject({ recorded: true });
      await store.recordEvent(event("delivered", message.id, "b@example.org", t + 2000));

      const stored = await store.getMessage(message.id);
      expect(stored?.recipients.map((r) => [r.address, r.status])).toEqual([
        ["a@example.org", "bounced"],
        ["b@example.org", "delivered"],
      ]);
      expect(await store.getMessageStats(message.id)).toMatchObject({
        recipients: 2,
        delivered: 2,
        bounced: 1,
      });
    });

    it("leaves suppression lists alone on unsubscribe and complaint events", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
      await store.recordMessage(message);
      await store.recordEvent(event("unsubscribe", message.id, "a@example.org", t + 1));
      await store.recordEvent(event("complaint", message.id, "a@example.org", t + 2));
      expect(await store.suppressionsFor("acme", "a@example.org")).toEqual([]);
      expect(await store.getMessageStats(message.id)).toMatchObject({ unsubscribes: 1, complaints: 1 });
    });
  });
}
