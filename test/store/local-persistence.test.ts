/**
 * The local store keeps everything across close and reopen on one data
 * directory: what `npm start` on a bare machine relies on after a restart.
 */
import { describe, expect, it } from "vitest";
import { openLocalStore } from "../../relay/store/local/index.js";
import type { Store } from "../../relay/store/types.js";
import { tempDir } from "../support/temp-dir.js";
import { account, attempt, currentHour, event, HOUR, MINUTE, newMessage, routeTable } from "./fixtures.js";

const NO_LIMITS = { perHour: 0, perDay: 0, perMonth: 0, overageAllowed: false };

async function reopened(dir: string, write: (store: Store) => Promise<void>): Promise<Store> {
  const first = await openLocalStore({ dir });
  try {
    await write(first);
  } finally {
    await first.close();
  }
  return openLocalStore({ dir });
}

describe("local store persistence", () => {
  it("keeps accounts, usernames, API keys, suppressions, counters, groups, route tables and blocks", async () => {
    const dir = await tempDir();
    const now = currentHour() + 10 * MINUTE;
    const acme = account("acme", {
      allowedIps: ["192.0.2.0/24"],
      allowedFrom: ["*@acme.com"],
      credentials: [{ username: "acme-smtp", passwordHash: "scrypt$16384$8$1$c2FsdA==$aGFzaA==" }],
    });
    const table = routeTable({ policy: "weighted" });
    const block = {
      sender: "out1",
      domain: "gmail.com",
      since: now,
      until: now + HOUR,
      reason: "blocked using x",
    };
    const key = { id: "k1", account: "acme", hash: "ab".repeat(32), createdAt: now };

    const store = await reopened(dir, async (s) => {
      await s.putAccount(acme);
      await s.putApiKey(key);
      await s.addSuppression("acme", {
        address: "Bob@Example.org",
        list: "unsubscribes",
        reason: "link",
        at: now,
      });
      await s.checkAndIncrement("acme", NO_LIMITS, 4, now);
      await s.hit("auth:203.0.113.1", 3600, now);
      await s.addGroup("acme", "welcome", now);
      await s.putRouteTable("default", table);
      await s.reportBlocked(block);
    });
    try {
      expect(await store.getAccount("acme")).toEqual(acme);
      expect(await store.findAccountByUsername("acme-smtp")).toEqual({
        account: acme,
        passwordHash: "scrypt$16384$8$1$c2FsdA==$aGFzaA==",
      });
      expect((await store.findAccountByClient("192.0.2.7", "news@acme.com"))?.name).toBe("acme");
      expect(await store.findApiKey(key.hash)).toEqual(key);
      expect(await store.suppressionsFor("acme", "BOB@example.org")).toEqual([
        { address: "bob@example.org", list: "unsubscribes", reason: "link", at: now },
      ]);
      expect(await store.getCounts("acme", now)).toEqual({ hour: 4, day: 4, month: 4 });
      // The rate-limit window goes on counting where it left off.
      expect(await store.hit("auth:203.0.113.1", 3600, now)).toBe(2);
      expect(await store.listGroups("acme")).toEqual([{ name: "welcome", createdAt: now }]);
      expect(await store.listRouteTables()).toEqual([{ name: "default", table }]);
      expect(await store.listBlocked(now)).toEqual([block]);
    } finally {
      await store.close();
    }
  });

  it("keeps the message log with attempts, events, stats, group stats, reports and errors", async () => {
    const dir = await tempDir();
    const t = currentHour();
    const message = newMessage({
      acceptedAt: t + MINUTE,
      recipients: ["a@example.org", "b@example.net"],
      group: "welcome",
    });
    const error = {
      at: t + 5 * MINUTE,
      code: "suppressed",
      message: "on the bounce list",
      notified: ["ops@acme.com"],
    };

    let before: Awaited<ReturnType<Store["getMessage"]>>;
    const store = await reopened(dir, async (s) => {
      await s.recordMessage(message);
      await s.recordAttempt(message.id, "a@example.org", attempt("deferred", t + 2 * MINUTE));
      await s.recordAttempt(message.id, "a@example.org", attempt("delivered", t + 3 * MINUTE));
      await s.recordEvent(event("open", message.id, "a@example.org", t + 4 * MINUTE, { country: "NL" }));
      await s.markSuppressed(message.id, "b@example.net", "on the bounce list", t + 2 * MINUTE);
      await s.recordError("acme", error);
      before = await s.getMessage(message.id);
    });
    try {
      const after = await store.getMessage(message.id);
      expect(after).toEqual(before);
      expect(after?.recipients.map((r) => [r.address, r.status, r.attempts.length])).toEqual([
        ["a@example.org", "delivered", 2],
        ["b@example.net", "suppressed", 0],
      ]);
      expect(after?.events.map((e) => e.type)).toEqual(["deferred", "delivered", "open"]);

      const listed = await store.listMessages("acme", { status: "suppressed" });
      expect(listed.items.map((m) => m.id)).toEqual([message.id]);
      expect(await store.getMessageStats(message.id)).toMatchObject({
        recipients: 2,
        delivered: 1,
        deferred: 1,
        opens: 1,
        uniqueOpens: 1,
      });
      expect(await store.getGroupStats("acme", "welcome")).toMatchObject({ recipients: 2, opens: 1 });
      expect(await store.getReport("acme", "country")).toEqual([
        { key: "NL", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
      ]);
      expect((await store.listErrors("acme")).items).toEqual([error]);

      // Unique marks survive too: the same recipient's second open is not unique after a restart.
      expect(
        await store.recordEvent(event("open", message.id, "a@example.org", t + 6 * MINUTE)),
      ).toMatchObject({
        recorded: true,
        unique: false,
      });
    } finally {
      await store.close();
    }
  });

  it("keeps a replaced account's createdAt and a conflict's refusal across a restart", async () => {
    const dir = await tempDir();
    const createdAt = currentHour() - 10 * HOUR;
    const store = await reopened(dir, async (s) => {
      await s.putAccount(
        account(
          "acme",
          { credentials: [{ username: "shared", passwordHash: "scrypt$1$1$1$a$b" }] },
          { createdAt },
        ),
      );
    });
    try {
      await store.putAccount(account("acme", { weight: 5 }, { createdAt: createdAt + HOUR }));
      expect(await store.getAccount("acme")).toMatchObject({ createdAt, weight: 5 });
      // The replaced account freed "shared"; claim it from beta, restart, and try to take it back.
      await store.putAccount(
        account("beta", { credentials: [{ username: "shared", passwordHash: "scrypt$1$1$1$c$d" }] }),
      );
    } finally {
      await store.close();
    }
    const again = await openLocalStore({ dir });
    try {
      await expect(
        again.putAccount(
          account("acme", { credentials: [{ username: "shared", passwordHash: "scrypt$1$1$1$a$b" }] }),
        ),
      ).rejects.toMatchObject({ name: "StoreError", code: "conflict" });
      expect((await again.findAccountByUsername("shared"))?.account.name).toBe("beta");
    } finally {
      await again.close();
    }
  });
});
