import type { ChangeFeed } from "./changes.js";
import type { LocalDb } from "./db.js";

/** What every part of the local adapter shares: the connection and the change feed. */
export interface LocalContext {
  readonly db: LocalDb;
  readonly changes: ChangeFeed;
}
