/**
 * What only the local adapter promises, beyond the shared contract
 * (test/store/contract.ts): one process per file, damaged rows reported as
 * `invalid`, bounded logs, and batched purges.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import {
  account,
  attempt,
  currentHour,
  event,
  MINUTE,
  newMessage,
  routeTable,
} from "../../../test/store/fixtures.js";
import { tempDir } from "../../../test/support/temp-dir.js";
import type { Store } from "../types.js";
import { MAX_ERRORS_PER_ACCOUNT } from "./errors.js";
import { openLocalStore, STORE_FILE } from "./index.js";
import { MIGRATIONS } from "./migrations.js";

/** Runs `edit` on the raw database file while no store has it open. */
function editFile(dir: string, edit: (db: Database.Database) => void): void {
  const db = new Database(join(dir, STORE_FILE));
  try {
    edit(db);
  } finally {
    db.close();
  }
}

async function withStore<T>(dir: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openLocalStore({ dir });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

const invalid = { name: "StoreError", code: "invalid" };
const unavailable = { name: "StoreError", code: "unavailable" };

describe("local store file", () => {
  it("creates a WAL database at the current schema version", async () => {
    const dir = await tempDir();
    await withStore(dir, async (store) => expect(store.kind).toBe("local"));
    editFile(dir, (db) => {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    });
  });

  it("refuses a second open of the same directory while the first is open", async () => {
    const dir = await tempDir();
    const first = await openLocalStore({ dir });
    try {
      await expect(openLocalStore({ dir, lockTimeoutMs: 50 })).rejects.toMatchObject(unavailable);
      expect(await first.listAccounts()).toEqual([]);
    } finally {
      await first.close();
    }
    await withStore(dir, async (store) => expect(await store.listAccounts()).toEqual([]));
  });

  it("refuses a file written by a newer schema version", async () => {
    const dir = await tempDir();
    await withStore(dir, async () => {});
    editFile(dir, (db) => db.pragma(`user_version = ${MIGRATIONS.length + 1}`));
    await expect(openLocalStore({ dir })).rejects.toMatchObject(invalid);
  });

  it("answers unavailable once closed, and closes twice without error", async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    await store.close();
    await store.close();
    await expect(store.ping()).rejects.toMatchObject(unavailable);
    await expect(store.getAccount("acme")).rejects.toMatchObject(unavailable);
    await expect(store.putRouteTable("default", routeTable())).rejects.toMatchObject(unavailable);
  });
});

describe("damaged rows", () => {
  it("reports a corrupt account, route table, envelope or event as invalid", async () => {
    const dir = await tempDir();
    const t = currentHour();
    const message = newMessage({ acceptedAt: t });
    const second = newMessage({ acceptedAt: t + MINUTE });
    await withStore(dir, async (store) => {
      await store.putAccount(account("acme"));
      await store.putAccount(account("beta"));
      await store.putRouteTable("default", routeTable());
      await store.recordMessage(message);
      await store.recordMessage(second);
      await store.recordEvent(event("open", second.id, "one@example.org", t + 2 * MINUTE));
    });
    editFile(dir, (db) => {
      db.prepare("UPDATE accounts SET payload = ? WHERE name = 'acme'").run("{not json");
      db.prepare("UPDATE accounts SET payload = ? WHERE name = 'beta'").run(JSON.stringify({ name: "beta" }));
      db.prepare("UPDATE route_tables SET payload = ?").run(JSON.stringify({ senders: [] }));
      db.prepare("UPDATE messages SET payload = ? WHERE id = ?").run(JSON.stringify({ id: 7 }), message.id);
      db.prepare("UPDATE events SET payload = ?").run(JSON.stringify({ type: "teleport" }));
    });
    await withStore(dir, async (store) => {
      await expect(store.getAccount("acme")).rejects.toMatchObject(invalid);
      await expect(store.getAccount("beta")).rejects.toMatchObject(invalid);
      await expect(store.listAccounts()).rejects.toMatchObject(invalid);
      await expect(store.findAccountByClient("192.0.2.1", "a@acme.com")).rejects.toMatchObject(invalid);
      await expect(store.getRouteTable("default")).rejects.toMatchObject(invalid);
      await expect(store.getMessage(message.id)).rejects.toMatchObject(invalid);
      await expect(store.listMessages("acme")).rejects.toMatchObject(invalid);
      await expect(store.getMessage(second.id)).rejects.toMatchObject(invalid);
      // What is not damaged still reads.
      expect(await store.getMessageStats(second.id)).toMatchObject({ recipients: 1, opens: 1 });
    });
  });

  it("refuses tampered cursors and bad limits as invalid input", async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    try {
      await expect(store.listMessages("acme", { cursor: "not-a-cursor" })).rejects.toMatchObject(invalid);
      const wrongShape = Buffer.from(JSON.stringify(["x"])).toString("base64url");
      await expect(store.listMessages("acme", { cursor: wrongShape })).rejects.toMatchObject(invalid);
      await expect(store.listSuppressions("acme", "bounces", { limit: 0 })).rejects.toMatchObject(invalid);
      await expect(
        store.checkAndIncrement("acme", { perHour: 1, perDay: 0, perMonth: 0, overageAllowed: false }, -1, 0),
      ).rejects.toMatchObject(invalid);
      await expect(store.putRouteTable("default", { senders: [] } as never)).rejects.toMatchObject(invalid);
    } finally {
      await store.close();
    }
  });
});

describe("bounded logs", () => {
  it("stops logging tracking events at the cap and delivery events at twice it, while stats count them all", async () => {
    const store = await openLocalStore({ dir: await tempDir(), maxEventsPerMessage: 3 });
    try {
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
      await store.recordMessage(message);
      for (let minute = 1; minute <= 5; minute++)
        await store.recordEvent(event("open", message.id, "a@example.org", t + minute * MINUTE));
      for (let minute = 6; minute <= 9; minute++)
        await store.recordAttempt(message.id, "a@example.org", attempt("deferred", t + minute * MINUTE));
      const stored = await store.getMessage(message.id);
      expect(stored?.events.map((e) => [e.type, (e.at - t) / MINUTE])).toEqual([
        ["open", 1],
        ["open", 2],
        ["open", 3],
        ["deferred", 6],
        ["deferred", 7],
        ["deferred", 8],
      ]);
      expect(stored?.recipients[0]?.attempts).toHaveLength(4);
      expect(await store.getMessageStats(message.id)).toMatchObject({
        opens: 5,
        uniqueOpens: 1,
        deferred: 1,
      });
    } finally {
      await store.close();
    }
  });

  it("records an event for an address the message was not sent to, moving no status", async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    try {
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
      await store.recordMessage(message);
      expect(
        await store.recordEvent(event("bounced", message.id, "stranger@example.org", t + 1)),
      ).toMatchObject({
        recorded: true,
        unique: true,
      });
      const stored = await store.getMessage(message.id);
      expect(stored?.recipients.map((r) => [r.address, r.status])).toEqual([["a@example.org", "queued"]]);
      expect(stored?.events.map((e) => e.recipient)).toEqual(["stranger@example.org"]);
    } finally {
      await store.close();
    }
  });

  it("keeps the newest attempts of a recipient", async () => {
    const store = await openLocalStore({ dir: await tempDir(), maxAttemptsPerRecipient: 2 });
    try {
      const t = currentHour();
      const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
      await store.recordMessage(message);
      for (let i = 1; i <= 4; i++)
        await store.recordAttempt(message.id, "a@example.org", {
          at: t + i * MINUTE,
          sender: "out1",
          outcome: "deferred",
          answer: `451 try ${i}`,
        });
      const [recipient] = (await store.getMessage(message.id))?.recipients ?? [];
      expect(recipient?.attempts.map((a) => a.answer)).toEqual(["451 try 3", "451 try 4"]);
      expect(recipient).toMatchObject({
        status: "deferred",
        lastAnswer: "451 try 4",
        updatedAt: t + 4 * MINUTE,
      });
    } finally {
      await store.close();
    }
  });

  it(`keeps the newest ${MAX_ERRORS_PER_ACCOUNT} errors per account`, async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    try {
      const t = currentHour();
      const extra = 5;
      for (let i = 0; i < MAX_ERRORS_PER_ACCOUNT + extra; i++)
        await store.recordError("acme", { at: t + i, code: "over_limit", message: `#${i}`, notified: [] });
      await store.recordError("beta", { at: t, code: "suppressed", message: "beta's", notified: [] });

      const newest = await store.listErrors("acme", { limit: 1 });
      expect(newest.items[0]?.message).toBe(`#${MAX_ERRORS_PER_ACCOUNT + extra - 1}`);
      const oldest = await store.listErrors("acme", { until: t + extra + 1 });
      expect(oldest.items.map((e) => e.message)).toEqual([`#${extra}`]);
      expect((await store.listErrors("beta")).items).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("purges in batches, leaving newer messages and the group's counters", async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    try {
      const t = currentHour();
      const old = Array.from({ length: 450 }, (_, i) =>
        newMessage({ acceptedAt: t + i, recipients: [`r${i}@example.org`], group: "g" }),
      );
      const kept = newMessage({ acceptedAt: t + 30 * MINUTE, group: "g" });
      for (const m of [...old, kept]) await store.recordMessage(m);
      await store.recordEvent(event("open", old[0]!.id, "r0@example.org", t + MINUTE));

      expect(await store.purgeMessages(t + 10 * MINUTE)).toBe(450);
      expect(await store.getMessage(old[0]!.id)).toBeUndefined();
      expect(await store.getMessageStats(old[0]!.id)).toBeUndefined();
      expect((await store.listMessages("acme")).items.map((m) => m.id)).toEqual([kept.id]);
      expect(await store.recordEvent(event("open", old[1]!.id, "r1@example.org", t + MINUTE))).toEqual({
        recorded: false,
        unique: false,
      });
      expect(await store.getGroupStats("acme", "g")).toMatchObject({ recipients: 451, opens: 1 });
      expect(await store.purgeMessages(t + 10 * MINUTE)).toBe(0);
    } finally {
      await store.close();
    }
  });
});

describe("change delivery", () => {
  it("calls listeners after the write has returned, with the change already readable", async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    try {
      const seen: (string | undefined)[] = [];
      let writerReturned = false;
      const delivered = new Promise<void>((resolve) => {
        store.onChange((change) => {
          if (change.kind !== "account") return;
          expect(writerReturned).toBe(true);
          void store.getAccount(change.name).then((a) => {
            seen.push(a?.name);
            resolve();
          });
        });
      });
      await store.putAccount(account("acme"));
      writerReturned = true;
      await delivered;
      expect(seen).toEqual(["acme"]);
    } finally {
      await store.close();
    }
  });
});
