/**
 * The one SQLite connection of a local store: cached prepared statements,
 * transactions, and the mapping of SQLite failures to StoreError codes.
 *
 * better-sqlite3 is synchronous and runs on the event loop, so every call
 * here must stay short: statements are prepared once, and long jobs
 * (purgeMessages) work in batches with a yield between them.
 *
 * Hot writes (the message log at intake, one attempt per copy, tracking
 * events) go through `writeSoon`: they are queued and committed together at
 * the end of the event-loop turn, one transaction for the lot with a
 * savepoint each, so one failing write rolls back alone. A commit costs more
 * than the statements of one such write (WAL frames for every page touched,
 * indexes included), and at a few hundred writes a second most of those pages
 * are the same ones. Each promise still resolves only once its write has
 * committed, and every other read or write runs the queue first, so callers
 * read what they wrote exactly as before.
 */
import Database from "better-sqlite3";
import { StoreError } from "../types.js";

export type Statement = Database.Statement<unknown[], unknown>;

/** Queued writes committed in one transaction; past this many, they commit at once. */
const MAX_BATCH = 256;

interface QueuedWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type WriteResult = { ok: true; value: unknown } | { ok: false; error: unknown };

export class LocalDb {
  private readonly statements = new Map<string, Statement>();
  private open = true;
  private queue: QueuedWrite[] = [];
  private flushScheduled = false;
  private flushing = false;
  /** Runs a function in a transaction, or in a savepoint when one is open already. */
  private readonly inTransaction: (work: () => unknown) => unknown;

  constructor(private readonly sqlite: Database.Database) {
    this.inTransaction = sqlite.transaction((work: () => unknown) => work());
  }

  /** A prepared statement, cached by its text (all SQL here is constant text of this folder). */
  sql(text: string): Statement {
    // A statement outside read/write/writeSoon still sees every queued write.
    if (this.queue.length > 0 && !this.flushing) this.flush();
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.sqlite.prepare<unknown[], unknown>(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Runs reads, mapping SQLite failures to StoreError. */
  read<T>(work: () => T): T {
    this.assertOpen();
    this.flush();
    try {
      return work();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** Runs `work` in one transaction: all of it commits, or none of it (a throw rolls back). */
  write<T>(work: () => T): T {
    this.assertOpen();
    this.flush();
    try {
      return this.inTransaction(work) as T;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /**
   * Like `write`, committed with the other writes of this event-loop turn (see the top of the
   * file). A throw rolls back this write only and rejects its promise.
   */
  writeSoon<T>(work: () => T): Promise<T> {
    this.assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Commits the queued writes now (one transaction, a savepoint each). */
  flush(): void {
    if (this.flushing || this.queue.length === 0 || !this.open) return;
    const batch = this.queue;
    this.queue = [];
    this.flushing = true;
    const results: WriteResult[] = [];
    let lost: unknown;
    try {
      this.sql("BEGIN").run();
      for (const item of batch) {
        try {
          results.push({ ok: true, value: this.inTransaction(item.work) });
        } catch (error) {
          // Some failures (disk full, I/O) make SQLite roll back the whole transaction itself.
          if (!this.sqlite.inTransaction) {
            lost = error;
            break;
          }
          results.push({ ok: false, error: toStoreError(error) });
        }
      }
      if (lost === undefined) this.sql("COMMIT").run();
    } catch (error) {
      lost = error;
    } finally {
      if (lost !== undefined && this.sqlite.inTransaction) this.sqlite.exec("ROLLBACK");
      this.flushing = false;
    }
    if (lost !== undefined) {
      const error = toStoreError(lost);
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const result = results[i] as WriteResult;
      if (result.ok) item.resolve(result.value);
      else item.reject(result.error);
    });
  }

  ping(): void {
    this.read(() => this.sql("SELECT 1").get());
  }

  close(): void {
    if (!this.open) return;
    this.flush();
    this.open = false;
    this.statements.clear();
    try {
      // Lets SQLite refresh planner statistics it found missing (cheap; recommended before close).
      this.sqlite.pragma("optimize");
    } finally {
      this.sqlite.close();
    }
  }

  private assertOpen(): void {
    if (!this.open) throw new StoreError("unavailable", "the local store is closed");
  }
}

const INVALID_CODES = ["SQLITE_CONSTRAINT", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_MISMATCH"];

/**
 * SQLite's answer as a StoreError: a constraint or a damaged file is
 * `invalid`; everything else SQLite reports (busy, locked, I/O, disk full,
 * cannot open) is `unavailable`, which the caller may retry.
 * Errors that are not SQLite's (bugs) pass through unchanged.
 */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreError) return error;
  if (error instanceof Database.SqliteError) {
    const code = error.code;
    if (INVALID_CODES.some((prefix) => code.startsWith(prefix)))
      return new StoreError("invalid", `local store: ${error.message}`, { cause: error });
    return new StoreError("unavailable", `local store: ${error.message}`, { cause: error });
  }
  if (error instanceof TypeError && /database connection is not open/i.test(error.message))
    return new StoreError("unavailable", "the local store is closed", { cause: error });
  return error;
}
