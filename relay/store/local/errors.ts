/**
 * Errors found after acceptance, per account, newest first (by `at`, then
 * by arrival). Only the newest MAX_ERRORS_PER_ACCOUNT are kept.
 */
import { z } from "zod";
import type { AccountErrorRecord } from "../../vocabulary.js";
import type { Store } from "../types.js";
import type { LocalContext } from "./context.js";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { storedJson, storedValue, timeSchema, validInput, withoutEmpty } from "./validate.js";

type ErrorOps = Pick<Store, "recordError" | "listErrors">;

export const MAX_ERRORS_PER_ACCOUNT = 10_000;

const errorSchema = z.object({
  at: timeSchema,
  code: z.string().min(1).max(64),
  message: z.string().transform((s) => s.slice(0, 4000)),
  messageId: z.string().min(1).max(256).optional(),
  recipient: z.string().min(1).max(512).optional(),
  notified: z.array(z.string().max(512)).max(100),
});
const errorRow = z.object({ seq: z.number().int(), at: timeSchema, payload: z.string() });
const keptRow = z.object({ kept: z.number().int() });
const rangeSchema = z.object({ since: timeSchema.optional(), until: timeSchema.optional() });
const errorCursor = z.tuple([timeSchema, z.number().int()]);

export function errorOps({ db }: LocalContext): ErrorOps {
  return {
    async recordError(account, input) {
      const error = validInput(errorSchema, input, "account error");
      await db.writeSoon(() => {
        db.sql("INSERT INTO account_errors (account, at, payload) VALUES (?, ?, ?)").run(
          account,
          error.at,
          JSON.stringify(error),
        );
        const { kept } = storedValue(
          keptRow,
          db
            .sql(
              `INSERT INTO account_error_counts (account, kept) VALUES (?, 1)
               ON CONFLICT (account) DO UPDATE SET kept = kept + 1 RETURNING kept`,
            )
            .get(account),
          "error count",
        );
        if (kept <= MAX_ERRORS_PER_ACCOUNT) return;
        const dropped = db
          .sql(
            `DELETE FROM account_errors WHERE seq IN (
               SELECT seq FROM account_errors WHERE account = ? ORDER BY at, seq LIMIT ?)`,
          )
          .run(account, kept - MAX_ERRORS_PER_ACCOUNT).changes;
        db.sql("UPDATE account_error_counts SET kept = kept - ? WHERE account = ?").run(dropped, account);
      });
    },

    async listErrors(account, query = {}) {
      const limit = pageLimit(query.limit);
      const range = validInput(rangeSchema, { since: query.since, until: query.until }, "time range");
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor, errorCursor);
      return db.read(() => {
        const rows = db
          .sql(
            `SELECT seq, at, payload FROM account_errors
             WHERE account = @account
               AND (@since IS NULL OR at >= @since) AND (@until IS NULL OR at < @until)
               AND (@cursorAt IS NULL OR at < @cursorAt OR (at = @cursorAt AND seq < @cursorSeq))
             ORDER BY at DESC, seq DESC LIMIT @fetch`,
          )
          .all({
            account,
            since: range.since ?? null,
            until: range.until ?? null,
            cursorAt: cursor?.[0] ?? null,
            cursorSeq: cursor?.[1] ?? null,
            fetch: limit + 1,
          })
          .map((row) => storedValue(errorRow, row, "account error row"));
        return toPage(
          rows,
          limit,
          (row): AccountErrorRecord => withoutEmpty(storedJson(errorSchema, row.payload, "account error")),
          (row) => [row.at, row.seq],
        );
      });
    },
  };
}
