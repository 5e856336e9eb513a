/**
 * The local Store adapter: one embedded SQLite file, `${dir}/store.sqlite`,
 * for a single relay process (the default when no Redis is configured).
 *
 * - WAL journal: readers never wait for the writer, and a commit appends to
 *   the log instead of rewriting pages.
 * - synchronous=NORMAL: in WAL mode a commit is not fsynced, only each
 *   checkpoint is. A crash of the process loses nothing (the WAL is in the OS
 *   page cache) and the file is never corrupted; a power cut or kernel crash
 *   can roll back the last commits. That trade is right here: accepted mail
 *   is made durable by the spool's own fsync before "250", and the store's
 *   state (log, stats, counters) is not worth an fsync per event, which
 *   would stall the event loop on every tracking hit.
 * - locking_mode=EXCLUSIVE: the first process to open the file keeps it, a
 *   second one fails at open with `unavailable` instead of silently
 *   splitting the change notifications and caches between two processes.
 *   The OS releases the lock when the process dies, so a crash leaves no stale lock.
 * - Every multi-row change is one transaction; better-sqlite3 is synchronous,
 *   so a transaction runs to its end before any other callback, which is
 *   what makes checkAndIncrement exact under concurrency.
 */
import { chmod, mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type Logger, silentLogger } from "../../log/logger.js";
import { type Store, StoreError } from "../types.js";
import { accountOps } from "./accounts.js";
import { ChangeFeed } from "./changes.js";
import { counterOps } from "./counters.js";
import { LocalDb, toStoreError } from "./db.js";
import { errorOps } from "./errors.js";
import { eventOps } from "./events.js";
import { messageOps } from "./messages.js";
import { migrate } from "./migrations.js";
import { outboxOps } from "./outbox.js";
import { routingOps } from "./routing.js";
import { suppressionOps } from "./suppressions.js";
import { webhookOps } from "./webhooks.js";

export interface LocalStoreOptions {
  /** The data directory; created if missing. */
  dir: string;
  logger?: Logger;
  /** Tracking events logged per message (delivery events: twice as many); stats count them all. Default 1000. */
  maxEventsPerMessage?: number;
  /** Attempts kept per recipient, newest. Default 100. */
  maxAttemptsPerRecipient?: number;
  /** How long opening waits for another process's lock on the file before failing. Default 2000. */
  lockTimeoutMs?: number;
}

export const STORE_FILE = "store.sqlite";

export async function openLocalStore(options: LocalStoreOptions): Promise<Store> {
  const logger = (options.logger ?? silentLogger()).child({ component: "store", adapter: "local" });
  const file = join(options.dir, STORE_FILE);
  try {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    // Made here, owner-only, before SQLite opens it: SQLite gives the -wal and -shm files the
    // database file's mode, and the store holds accounts' password hashes and DKIM keys.
    await (await open(file, "a", 0o600)).close();
    await chmod(file, 0o600);
  } catch (error) {
    throw new StoreError("unavailable", `cannot create the store in ${options.dir}`, { cause: error });
  }
  const sqlite = openDatabase(file, options.lockTimeoutMs ?? 2000);
  logger.debug({ file }, "local store open");

  const db = new LocalDb(sqlite);
  const changes = new ChangeFeed(logger);
  const context = { db, changes };
  const store: Store = {
    kind: "local",
    ...accountOps(context),
    ...suppressionOps(context),
    ...counterOps(context),
    ...messageOps(context, {
      maxEventsPerMessage: options.maxEventsPerMessage ?? 1000,
      maxAttemptsPerRecipient: options.maxAttemptsPerRecipient ?? 100,
    }),
    ...eventOps(context, options.maxEventsPerMessage ?? 1000),
    ...errorOps(context),
    ...routingOps(context),
    ...webhookOps(context),
    ...outboxOps(context),
    onChange(listener) {
      return changes.subscribe(listener);
    },
    async ping() {
      db.ping();
    },
    async close() {
      changes.close();
      db.close();
    },
  };
  return store;
}

function openDatabase(file: string, lockTimeoutMs: number): Database.Database {
  let sqlite: Database.Database | undefined;
  try {
    sqlite = new Database(file, { timeout: lockTimeoutMs });
    sqlite.pragma("locking_mode = EXCLUSIVE");
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    // Every queued write runs in its own savepoint (db.ts); SQLite keeps each savepoint's statement
    // journal in a temp file by default, which cost ~29 pwrite calls per accepted message.
    sqlite.pragma("temp_store = MEMORY");
    // Take the exclusive lock now, so a second process fails here and not on its first write.
    sqlite.exec("BEGIN EXCLUSIVE; COMMIT");
    migrate(sqlite);
    return sqlite;
  } catch (error) {
    sqlite?.close();
    if (error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY"))
      throw new StoreError("unavailable", `${file} is in use by another process`, { cause: error });
    throw toStoreError(error);
  }
}
