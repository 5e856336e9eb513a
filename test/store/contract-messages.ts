/** Store contract: the message log (recordMessage, recordAttempt, markSuppressed, getMessage, listMessages, purgeMessages). */
import { describe, expect, it } from "vitest";
import type { MessageQuery, Store } from "../../relay/store/types.js";
import type { MessageSummary } from "../../relay/vocabulary.js";
import type { StoreHarness } from "./contract-harness.js";
import { attempt, collectPages, currentHour, event, MINUTE, newMessage } from "./fixtures.js";

async function statusOf(store: Store, id: string, recipient: string) {
  const message = await store.getMessage(id);
  return message?.recipients.find((r) => r.address === recipient)?.status;
}

async function listIds(store: Store, account: string, query: MessageQuery = {}): Promise<string[]> {
  const all = await collectPages((cursor) => store.listMessages(account, { ...query, cursor }), 100);
  return all.items.map((m) => m.id);
}

export function describeMessageContract(harness: StoreHarness): void {
  describe("message log", () => {
    it("logs an accepted message with every recipient queued and lower-cased", async () => {
      const store = await harness.open();
      const acceptedAt = currentHour() + 5 * MINUTE;
      const message = newMessage({
        acceptedAt,
        recipients: ["One@Example.org", "two@example.NET"],
        group: "welcome",
        clientIp: "203.0.113.9",
        authUser: "acme",
        messageIdHeader: "<abc@acme.com>",
        from: "",
      });
      await store.recordMessage(message);

      const stored = await store.getMessage(message.id);
      expect(stored).toBeDefined();
      const { recipients, events, ...envelope } = stored ?? { recipients: [], events: [] };
      const { recipients: _sent, ...sentEnvelope } = message;
      expect(envelope).toEqual(sentEnvelope);
      expect(events).toEqual([]);
      expect(recipients.map((r) => ({ address: r.address, status: r.status, attempts: r.attempts }))).toEqual(
        [
          { address: "one@example.org", status: "queued", attempts: [] },
          { address: "two@example.net", status: "queued", attempts: [] },
        ],
      );
      expect(await store.getMessage("NO-SUCH-ID")).toBeUndefined();
    });

    it("records a message once, however often it is recorded", async () => {
      const store = await harness.open();
      const message = newMessage({
        acceptedAt: currentHour(),
        recipients: ["a@example.org", "b@example.org"],
      });
      await store.recordMessage(message);
      await store.recordAttempt(message.id, "a@example.org", attempt("delivered", message.acceptedAt + 1000));
      await store.recordMessage(message);

      expect(await listIds(store, "acme")).toEqual([message.id]);
      expect((await store.getMessageStats(message.id))?.recipients).toBe(2);
      expect(await statusOf(store, message.id, "a@example.org")).toBe("delivered");
      expect((await store.getMessage(message.id))?.recipients).toHaveLength(2);
    });

    it("appends attempts in order and moves the status: deferred, then delivered", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org", "b@example.org"] });
      await store.recordMessage(message);

      const first = attempt("deferred", t + 1000, { durationMs: 120, sourceIp: "127.0.0.2" });
      await store.recordAttempt(message.id, "A@Example.org", first);
      let stored = await store.getMessage(message.id);
      let a = stored?.recipients.find((r) => r.address === "a@example.org");
      expect(a).toMatchObject({ status: "deferred", lastAnswer: first.answer, attempts: [first] });
      expect(stored?.recipients.find((r) => r.address === "b@example.org")?.status).toBe("queued");

      const second = attempt("delivered", t + 2000, { sender: "out2" });
      await store.recordAttempt(message.id, "a@example.org", second);
      stored = await store.getMessage(message.id);
      a = stored?.recipients.find((r) => r.address === "a@example.org");
      expect(a).toMatchObject({
        status: "delivered",
        updatedAt: t + 2000,
        lastAnswer: second.answer,
        attempts: [first, second],
      });
      expect(stored?.events.map((e) => [e.type, e.recipient, e.at])).toEqual([
        ["deferred", "a@example.org", t + 1000],
        ["delivered", "a@example.org", t + 2000],
      ]);
      expect(stored?.events.every((e) => e.messageId === message.id && e.account === "acme")).toBe(true);
    });

    it("never moves a final status back to deferred", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({
        acceptedAt: t,
        recipients: ["delivered@example.org", "bounced@example.org", "suppressed@example.org"],
      });
      await store.recordMessage(message);
      await store.recordAttempt(message.id, "delivered@example.org", attempt("delivered", t + 1000));
      await store.recordAttempt(message.id, "bounced@example.org", attempt("bounced", t + 1000));
      await store.markSuppressed(message.id, "suppressed@example.org", "on the bounce list", t + 1000);

      for (const address of message.recipients) {
        await store.recordAttempt(message.id, address, attempt("deferred", t + 2000));
        await store.recordAttempt(message.id, address, attempt("blocked", t + 3000));
      }
      expect(await statusOf(store, message.id, "delivered@example.org")).toBe("delivered");
      expect(await statusOf(store, message.id, "bounced@example.org")).toBe("bounced");
      expect(await statusOf(store, message.id, "suppressed@example.org")).toBe("suppressed");
      const delivered = (await store.getMessage(message.id))?.recipients.find(
        (r) => r.address === "delivered@example.org",
      );
      expect(delivered?.attempts.map((x) => x.outcome)).toEqual(["delivered", "deferred", "blocked"]);
    });

    it("treats a blocked attempt as deferred, in the status and in the events", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
      await store.recordMessage(message);
      const blocked = attempt("blocked", t + 1000);
      await store.recordAttempt(message.id, "a@example.org", blocked);

      const stored = await store.getMessage(message.id);
      expect(stored?.recipients[0]).toMatchObject({ status: "deferred", attempts: [blocked] });
      expect(stored?.events.map((e) => e.type)).toEqual(["deferred"]);
      expect((await store.getMessageStats(message.id))?.deferred).toBe(1);

      await store.recordAttempt(message.id, "a@example.org", attempt("bounced", t + 2000));
      expect(await statusOf(store, message.id, "a@example.org")).toBe("bounced");
      expect((await store.getMessage(message.id))?.events.map((e) => e.type)).toEqual([
        "deferred",
        "bounced",
      ]);
    });

    it("ignores an attempt for an unknown message", async () => {
      const store = await harness.open();
      await store.recordAttempt("NO-SUCH-ID", "a@example.org", attempt("delivered", currentHour()));
      expect(await store.getMessage("NO-SUCH-ID")).toBeUndefined();
      expect(await store.getMessageStats("NO-SUCH-ID")).toBeUndefined();
    });

    it("marks a recipient suppressed with the reason", async () => {
      const store = await harness.open();
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org", "b@example.org"] });
      await store.recordMessage(message);
      await store.markSuppressed(message.id, "A@EXAMPLE.ORG", "address is on the unsubscribe list", t + 500);

      const stored = await store.getMessage(message.id);
      expect(stored?.recipients.find((r) => r.address === "a@example.org")).toMatchObject({
        status: "suppressed",
        updatedAt: t + 500,
        lastAnswer: "address is on the unsubscribe list",
      });
      expect(stored?.recipients.find((r) => r.address === "b@example.org")?.status).toBe("queued");
    });
  });

  describe("listMessages", () => {
    it("lists an account's messages newest first and filters by since, until, rcpt, status and group", async () => {
      const store = await harness.open();
      const t = currentHour();
      const m1 = newMessage({ acceptedAt: t + MINUTE, recipients: ["a@x.example"], group: "g1" });
      const m2 = newMessage({ acceptedAt: t + 2 * MINUTE, recipients: ["b@y.example", "c@x.example"] });
      const m3 = newMessage({ acceptedAt: t + 3 * MINUTE, recipients: ["A@X.example"], group: "g1" });
      const other = newMessage({ account: "beta", acceptedAt: t + 2 * MINUTE, recipients: ["a@x.example"] });
      for (const m of [m2, other, m3, m1]) await store.recordMessage(m);
      await store.recordAttempt(m2.id, "c@x.example", attempt("delivered", t + 4 * MINUTE));
      await store.recordAttempt(m3.id, "a@x.example", attempt("bounced", t + 4 * MINUTE));

      expect(await listIds(store, "acme")).toEqual([m3.id, m2.id, m1.id]);
      expect(await listIds(store, "beta")).toEqual([other.id]);
      expect(await listIds(store, "gamma")).toEqual([]);
      expect(await listIds(store, "acme", { since: t + 2 * MINUTE })).toEqual([m3.id, m2.id]);
      expect(await listIds(store, "acme", { until: t + 2 * MINUTE })).toEqual([m1.id]);
      expect(await listIds(store, "acme", { since: t + 2 * MINUTE, until: t + 3 * MINUTE })).toEqual([m2.id]);
      expect(await listIds(store, "acme", { rcpt: "A@x.EXAMPLE" })).toEqual([m3.id, m1.id]);
      expect(await listIds(store, "acme", { rcpt: "a@x.exampl" })).toEqual([]);
      expect(await listIds(store, "acme", { status: "delivered" })).toEqual([m2.id]);
      expect(await listIds(store, "acme", { status: "queued" })).toEqual([m2.id, m1.id]);
      expect(await listIds(store, "acme", { status: "bounced" })).toEqual([m3.id]);
      expect(await listIds(store, "acme", { group: "g1" })).toEqual([m3.id, m1.id]);
      expect(await listIds(store, "acme", { group: "g1", status: "queued" })).toEqual([m1.id]);

      const page = await store.listMessages("acme", { rcpt: "c@x.example" });
      const { recipients: _r, ...envelope } = m2;
      const expected: MessageSummary = {
        ...envelope,
        recipients: [
          { address: "b@y.example", status: "queued" },
          { address: "c@x.example", status: "delivered" },
        ],
      };
      expect(page.items).toEqual([expected]);
    });

    it("pages newest first with cursors, covering every message exactly once", async () => {
      const store = await harness.open();
      const t = currentHour();
      const messages = Array.from({ length: 25 }, (_, i) =>
        // Pairs share an acceptedAt, so the order between them rests on the id.
        newMessage({ acceptedAt: t + Math.floor(i / 2) * 1000, group: i % 3 === 0 ? "g" : undefined }),
      );
      for (const m of [...messages].reverse()) await store.recordMessage(m);

      const all = await collectPages((cursor) => store.listMessages("acme", { limit: 7, cursor }), 7);
      expect(all.pageSizes).toEqual([7, 7, 7, 4]);
      expect([...all.items.map((m) => m.id)].sort()).toEqual(messages.map((m) => m.id).sort());
      const times = all.items.map((m) => m.acceptedAt);
      expect(times).toEqual([...times].sort((a, b) => b - a));

      const grouped = await collectPages(
        (cursor) => store.listMessages("acme", { limit: 2, cursor, group: "g" }),
        2,
      );
      const expectedGrouped = messages.filter((m) => m.group === "g").map((m) => m.id);
      expect([...grouped.items.map((m) => m.id)].sort()).toEqual(expectedGrouped.sort());
      expect(grouped.items).toHaveLength(9);
    });

    it("keeps paging stable while newer messages arrive", async () => {
      const store = await harness.open();
      const t = currentHour();
      const older = Array.from({ length: 6 }, (_, i) => newMessage({ acceptedAt: t + i * 1000 }));
      for (const m of older) await store.recordMessage(m);

      const first = await store.listMessages("acme", { limit: 3 });
      await store.recordMessage(newMessage({ acceptedAt: t + 60_000 }));
      const second = await store.listMessages("acme", { limit: 3, cursor: first.nextCursor });
      const seen = [...first.items, ...second.items].map((m) => m.id);
      expect(seen).toEqual(older.map((m) => m.id).reverse());
    });
  });

  describe("purgeMessages", () => {
    it("deletes messages accepted before the cut-off with their recipients and events", async () => {
      const store = await harness.open();
      const t = currentHour();
      const old1 = newMessage({ acceptedAt: t, group: "g" });
      const old2 = newMessage({ acceptedAt: t + MINUTE });
      const kept = newMessage({ acceptedAt: t + 2 * MINUTE, recipients: ["one@example.org"] });
      for (const m of [old1, old2, kept]) await store.recordMessage(m);
      await store.recordEvent(event("open", old1.id, "one@example.org", t + 10));
      await store.recordEvent(event("open", kept.id, "one@example.org", t + 2 * MINUTE + 10));

      expect(await store.purgeMessages(t + 2 * MINUTE)).toBe(2);
      expect(await store.getMessage(old1.id)).toBeUndefined();
      expect(await store.getMessage(old2.id)).toBeUndefined();
      expect(await store.getMessageStats(old1.id)).toBeUndefined();
      expect(await listIds(store, "acme")).toEqual([kept.id]);
      expect(await listIds(store, "acme", { rcpt: "one@example.org" })).toEqual([kept.id]);
      expect(
        await store.recordEvent(event("open", old1.id, "one@example.org", t + 3 * MINUTE)),
      ).toMatchObject({
        recorded: false,
      });

      const survivor = await store.getMessage(kept.id);
      expect(survivor?.events.map((e) => e.type)).toEqual(["open"]);
      expect(await store.purgeMessages(t + 2 * MINUTE)).toBe(0);
    });
  });
}
