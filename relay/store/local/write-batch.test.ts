/**
 * LocalDb.writeSoon: the hot writes of one event-loop turn commit together,
 * each in its own savepoint, and nobody can tell from outside except by the
 * timing (test/store's contract suite covers the Store-level behaviour).
 */
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { newMessage } from "../../../test/store/fixtures.js";
import { tempDir } from "../../../test/support/temp-dir.js";
import { StoreError } from "../types.js";
import { LocalDb } from "./db.js";
import { openLocalStore } from "./index.js";

const open: Database.Database[] = [];

function memoryDb(): { sqlite: Database.Database; db: LocalDb } {
  const sqlite = new Database(":memory:");
  open.push(sqlite);
  sqlite.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
  return { sqlite, db: new LocalDb(sqlite) };
}

function rows(sqlite: Database.Database): string[] {
  return (sqlite.prepare("SELECT k FROM t ORDER BY k").all() as { k: string }[]).map((r) => r.k);
}

afterEach(() => {
  for (const sqlite of open.splice(0)) if (sqlite.open) sqlite.close();
});

describe("LocalDb.writeSoon", () => {
  it("commits the writes of one turn together, after the turn, in one transaction", async () => {
    const { sqlite, db } = memoryDb();
    const seen: boolean[] = [];
    const insert = (k: string) =>
      db.writeSoon(() => {
        seen.push(sqlite.inTransaction);
        return db.sql("INSERT INTO t (k, v) VALUES (?, 1)").run(k).changes;
      });
    const writes = [insert("a"), insert("b"), insert("c")];
    // Not yet run: the caller's turn goes on first.
    expect(seen).toEqual([]);
    expect(rows(sqlite)).toEqual([]);
    expect(await Promise.all(writes)).toEqual([1, 1, 1]);
    expect(seen).toEqual([true, true, true]);
    expect(rows(sqlite)).toEqual(["a", "b", "c"]);
  });

  it("rolls back a failing write alone and rejects only its promise", async () => {
    const { sqlite, db } = memoryDb();
    const insert = (k: string) => db.writeSoon(() => db.sql("INSERT INTO t (k, v) VALUES (?, 1)").run(k));
    const first = insert("a");
    const duplicate = db.writeSoon(() => {
      db.sql("INSERT INTO t (k, v) VALUES ('x', 1)").run();
      // The second statement fails: the first one of this write must go too.
      db.sql("INSERT INTO t (k, v) VALUES ('a', 2)").run();
    });
    const last = insert("b");
    await expect(first).resolves.toBeDefined();
    await expect(duplicate).rejects.toMatchObject({ code: "invalid" });
    await expect(duplicate).rejects.toBeInstanceOf(StoreError);
    await expect(last).resolves.toBeDefined();
    expect(rows(sqlite)).toEqual(["a", "b"]);
  });

  it("rejects every write of the batch when SQLite drops the whole transaction", async () => {
    const { sqlite, db } = memoryDb();
    const first = db.writeSoon(() => db.sql("INSERT INTO t (k, v) VALUES ('a', 1)").run());
    // What SQLite does by itself on a full disk or an I/O error: the transaction is gone.
    const fatal = db.writeSoon(() => {
      sqlite.exec("ROLLBACK");
      throw new Database.SqliteError("disk I/O error", "SQLITE_IOERR");
    });
    const after = db.writeSoon(() => db.sql("INSERT INTO t (k, v) VALUES ('b', 1)").run());
    const results = await Promise.allSettled([first, fatal, after]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: "unavailable" });
    expect(rows(sqlite)).toEqual([]);
    expect(sqlite.inTransaction).toBe(false);
    // And the next turn works normally.
    await db.writeSoon(() => db.sql("INSERT INTO t (k, v) VALUES ('c', 1)").run());
    expect(rows(sqlite)).toEqual(["c"]);
  });

  it("runs queued writes before a read or a plain write, so callers read what they wrote", async () => {
    const { db } = memoryDb();
    const queued = db.writeSoon(() => db.sql("INSERT INTO t (k, v) VALUES ('a', 1)").run());
    expect(db.read(() => db.sql("SELECT count(*) AS n FROM t").get())).toEqual({ n: 1 });
    db.write(() => db.sql("UPDATE t SET v = 2 WHERE k = 'a'").run());
    await queued;
    expect(db.read(() => db.sql("SELECT v FROM t WHERE k = 'a'").get())).toEqual({ v: 2 });
  });

  it("commits at once when the queue is full, without waiting for the turn to end", () => {
    const { sqlite, db } = memoryDb();
    for (let i = 0; i < 256; i++)
      void db.writeSoon(() => db.sql("INSERT INTO t (k, v) VALUES (?, 1)").run(`k${i}`));
    expect(rows(sqlite)).toHaveLength(256);
  });

  it("commits queued writes on close: a message logged just before a shutdown is kept", async () => {
    const dir = await tempDir();
    const store = await openLocalStore({ dir });
    const logged = store.recordMessage(newMessage({ id: "m-close", acceptedAt: Date.now() }));
    await store.close();
    await logged;
    const again = await openLocalStore({ dir });
    try {
      expect((await again.getMessage("m-close"))?.id).toBe("m-close");
    } finally {
      await again.close();
    }
  });
});
