/**
 * Suppression lists per account: bounces, unsubscribes, complaints.
 * Addresses are stored lower-cased; `search` matches a lower-cased substring.
 */
import { z } from "zod";
import { SUPPRESSION_LISTS, type SuppressionEntry } from "../../vocabulary.js";
import type { Store } from "../types.js";
import type { LocalContext } from "./context.js";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { orNull, storedValue, timeSchema, validInput, withoutEmpty } from "./validate.js";

type SuppressionOps = Pick<
  Store,
  "addSuppression" | "removeSuppression" | "getSuppression" | "suppressionsFor" | "listSuppressions"
>;

const listSchema = z.enum(SUPPRESSION_LISTS);
const addressSchema = z
  .string()
  .min(1)
  .max(512)
  .transform((a) => a.toLowerCase());

const entrySchema = z.object({
  address: addressSchema,
  list: listSchema,
  reason: z.string().max(4000),
  at: timeSchema,
  messageId: z.string().min(1).max(256).optional(),
});

const entryRow = z.object({
  address: z.string(),
  list: listSchema,
  reason: z.string(),
  at: timeSchema,
  message_id: z.string().nullable(),
});

const COLUMNS = "address, list, reason, at, message_id";

function toEntry(row: unknown): SuppressionEntry {
  const stored = storedValue(entryRow, row, "suppression");
  return withoutEmpty({
    address: stored.address,
    list: stored.list,
    reason: stored.reason,
    at: stored.at,
    messageId: stored.message_id ?? undefined,
  });
}

export function suppressionOps({ db, changes }: LocalContext): SuppressionOps {
  return {
    async addSuppression(account, input) {
      const entry = validInput(entrySchema, input, "suppression entry");
      db.write(() =>
        db
          .sql(
            `INSERT INTO suppressions (account, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (account, list, address) DO UPDATE
             SET reason = excluded.reason, at = excluded.at, message_id = excluded.message_id`,
          )
          .run(account, entry.address, entry.list, entry.reason, entry.at, orNull(entry.messageId)),
      );
      changes.publish({ kind: "suppression", account });
    },

    async removeSuppression(account, list, address) {
      const valid = validInput(listSchema, list, "suppression list");
      const removed = db.write(
        () =>
          db
            .sql("DELETE FROM suppressions WHERE account = ? AND list = ? AND address = ?")
            .run(account, valid, address.toLowerCase()).changes > 0,
      );
      if (removed) changes.publish({ kind: "suppression", account });
      return removed;
    },

    async getSuppression(account, list, address) {
      const valid = validInput(listSchema, list, "suppression list");
      return db.read(() => {
        const row = db
          .sql(`SELECT ${COLUMNS} FROM suppressions WHERE account = ? AND list = ? AND address = ?`)
          .get(account, valid, address.toLowerCase());
        return row === undefined ? undefined : toEntry(row);
      });
    },

    async suppressionsFor(account, address) {
      const entries = db.read(() =>
        db
          .sql(`SELECT ${COLUMNS} FROM suppressions WHERE account = ? AND address = ?`)
          .all(account, address.toLowerCase())
          .map(toEntry),
      );
      return entries.sort((a, b) => SUPPRESSION_LISTS.indexOf(a.list) - SUPPRESSION_LISTS.indexOf(b.list));
    },

    async listSuppressions(account, list, query = {}) {
      const valid = validInput(listSchema, list, "suppression list");
      const limit = pageLimit(query.limit);
      const after = query.cursor === undefined ? null : decodeCursor(query.cursor, z.tuple([z.string()]))[0];
      const search = query.search ? query.search.toLowerCase() : null;
      return db.read(() => {
        const rows = db
          .sql(
            `SELECT ${COLUMNS} FROM suppressions
             WHERE account = @account AND list = @list
               AND (@after IS NULL OR address > @after)
               AND (@search IS NULL OR instr(address, @search) > 0)
             ORDER BY address LIMIT @fetch`,
          )
          .all({ account, list: valid, after, search, fetch: limit + 1 });
        return toPage(rows, limit, toEntry, (row) => [storedValue(entryRow, row, "suppression").address]);
      });
    },
  };
}
