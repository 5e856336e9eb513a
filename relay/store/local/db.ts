/**
 * The one SQLite connection of a local store: cached prepared statements,
 * transactions, and the mapping of SQLite failures to StoreError codes.
 *
 * better-sqlite3 is synchronous and runs on the event loop, so every call
 * here must stay short: statements are prepared once, and long jobs
 * (purgeMessages) work in batches with a yield between them.
 */
import Database from "better-sqlite3";
import { StoreError } from "../types.js";

export type Statement = Database.Statement<unknown[], unknown>;

export class LocalDb {
  private readonly statements = new Map<string, Statement>();
  private open = true;

  constructor(private readonly sqlite: Database.Database) {}

  /** A prepared statement, cached by its text (all SQL here is constant text of this folder). */
  sql(text: string): Statement {
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
    try {
      return work();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** Runs `work` in one transaction: all of it commits, or none of it (a throw rolls back). */
  write<T>(work: () => T): T {
    this.assertOpen();
    try {
      return this.sqlite.transaction(work)();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  ping(): void {
    this.read(() => this.sql("SELECT 1").get());
  }

  close(): void {
    if (!this.open) return;
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
