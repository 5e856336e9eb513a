/**
 * The message log: one row per accepted message (its envelope as JSON),
 * one per recipient with its status, its attempts, and its events
 * (events.ts). Newest first by (acceptedAt, id); the cursor is that pair.
 */
import { z } from "zod";
import type {
  DeliveryAttempt,
  MessageRecord,
  MessageSummary,
  RecipientRecord,
  StoredEvent,
} from "../../vocabulary.js";
import type { EventResult, MessageQuery, Store } from "../types.js";
import type { LocalContext } from "./context.js";
import { decodeCursor, pageLimit, toPage } from "./cursor.js";
import { addToStats, applyEvent, findMessageRef } from "./events.js";
import {
  addressSchema,
  attemptSchema,
  envelopeSchema,
  newMessageSchema,
  RECIPIENT_STATUSES,
  statusAfterAttempt,
  storedEventSchema,
} from "./records.js";
import { storedJson, storedValue, timeSchema, validInput, withoutEmpty } from "./validate.js";

type MessageOps = Pick<
  Store,
  "recordMessage" | "recordAttempt" | "markSuppressed" | "getMessage" | "listMessages" | "purgeMessages"
>;

export interface MessageLogLimits {
  maxEventsPerMessage: number;
  maxAttemptsPerRecipient: number;
}

const statusSchema = z.enum(RECIPIENT_STATUSES);
const messageRow = z.object({ id: z.string(), accepted_at: timeSchema, payload: z.string() });
const recipientRow = z.object({
  address: z.string(),
  status: statusSchema,
  updated_at: timeSchema,
  last_answer: z.string().nullable(),
});
const attemptRow = z.object({ address: z.string(), payload: z.string() });
const seqRow = z.object({ seq: z.number().int() });
const idRow = z.object({ id: z.string() });
const queryCursor = z.tuple([timeSchema, z.string()]);
const reasonSchema = z.string().transform((s) => s.slice(0, 4000));

/** Messages deleted per transaction by purgeMessages, so no single call blocks the event loop for long. */
const PURGE_BATCH = 200;

/** Each filter is a fixed SQL fragment; the statement for a combination is built and cached once. */
const FILTERS = {
  since: "m.accepted_at >= @since",
  until: "m.accepted_at < @until",
  group: "m.group_name = @group",
  rcpt: "m.id IN (SELECT message_id FROM recipients WHERE address = @rcpt)",
  status: "EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status = @status)",
  cursor: "(m.accepted_at < @cursorAt OR (m.accepted_at = @cursorAt AND m.id < @cursorId))",
} as const;
type Filter = keyof typeof FILTERS;

function listSql(filters: readonly Filter[]): string {
  const where = ["m.account = @account", ...filters.map((f) => FILTERS[f])].join(" AND ");
  return `SELECT m.id, m.accepted_at, m.payload FROM messages m WHERE ${where}
    ORDER BY m.accepted_at DESC, m.id DESC LIMIT @fetch`;
}

export function messageOps({ db }: LocalContext, limits: MessageLogLimits): MessageOps {
  function envelopeOf(payload: string) {
    return storedJson(envelopeSchema, payload, "message envelope");
  }

  function recipientRows(messageId: string) {
    return db
      .sql(
        "SELECT address, status, updated_at, last_answer FROM recipients WHERE message_id = ? ORDER BY position",
      )
      .all(messageId)
      .map((row) => storedValue(recipientRow, row, "recipient row"));
  }

  function summaryOf(row: unknown): MessageSummary {
    const stored = storedValue(messageRow, row, "message row");
    const recipients = recipientRows(stored.id).map((r) => ({ address: r.address, status: r.status }));
    return { ...envelopeOf(stored.payload), recipients };
  }

  function deleteMessage(id: string): void {
    for (const table of ["events", "attempts", "event_firsts", "message_stats", "recipients"])
      db.sql(`DELETE FROM ${table} WHERE message_id = ?`).run(id);
    db.sql("DELETE FROM messages WHERE id = ?").run(id);
  }

  return {
    async recordMessage(input) {
      const message = validInput(newMessageSchema, input, "message");
      const { recipients, ...envelope } = message;
      const addresses = [...new Set(recipients)];
      await db.writeSoon(() => {
        const inserted = db
          .sql(
            `INSERT INTO messages (id, account, accepted_at, group_name, payload) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING`,
          )
          .run(
            envelope.id,
            envelope.account,
            envelope.acceptedAt,
            envelope.group ?? null,
            JSON.stringify(envelope),
          );
        if (inserted.changes === 0) return; // already logged: idempotent, and counted once
        const addRecipient = db.sql(
          `INSERT INTO recipients (message_id, address, position, status, updated_at)
           VALUES (?, ?, ?, 'queued', ?)`,
        );
        addresses.forEach((address, position) => {
          addRecipient.run(envelope.id, address, position, envelope.acceptedAt);
        });
        const ref = withoutEmpty({ id: envelope.id, account: envelope.account, group: envelope.group });
        addToStats(db, ref, envelope.acceptedAt, { recipients: addresses.length });
      });
    },

    async recordAttempt(messageId, recipientInput, attemptInput) {
      const attempt = validInput(attemptSchema, attemptInput, "delivery attempt");
      const address = validInput(addressSchema, recipientInput, "recipient");
      return db.writeSoon((): EventResult => {
        const message = findMessageRef(db, messageId);
        if (message === undefined) return { recorded: false, unique: false };
        const row = db
          .sql(
            "SELECT address, status, updated_at, last_answer FROM recipients WHERE message_id = ? AND address = ?",
          )
          .get(messageId, address);
        if (row === undefined) return { recorded: false, unique: false };
        const current = storedValue(recipientRow, row, "recipient row").status;

        const last = storedValue(
          seqRow,
          db
            .sql("SELECT coalesce(max(seq), 0) AS seq FROM attempts WHERE message_id = ? AND address = ?")
            .get(messageId, address),
          "attempt sequence",
        );
        const seq = last.seq + 1;
        db.sql("INSERT INTO attempts (message_id, address, seq, payload) VALUES (?, ?, ?, ?)").run(
          messageId,
          address,
          seq,
          JSON.stringify(attempt),
        );
        db.sql("DELETE FROM attempts WHERE message_id = ? AND address = ? AND seq <= ?").run(
          messageId,
          address,
          seq - limits.maxAttemptsPerRecipient,
        );

        const next = statusAfterAttempt(current, attempt.outcome);
        const applies = next === (attempt.outcome === "blocked" ? "deferred" : attempt.outcome);
        if (applies)
          db.sql(
            "UPDATE recipients SET status = ?, updated_at = ?, last_answer = ? WHERE message_id = ? AND address = ?",
          ).run(next, attempt.at, attempt.answer, messageId, address);

        const type = attempt.outcome === "blocked" ? "deferred" : attempt.outcome;
        return applyEvent(
          db,
          limits.maxEventsPerMessage,
          { type, messageId, recipient: address, at: attempt.at, detail: attempt.answer },
          message,
        );
      });
    },

    async markSuppressed(messageId, recipientInput, reasonInput, nowInput) {
      const address = validInput(addressSchema, recipientInput, "recipient");
      const reason = validInput(reasonSchema, reasonInput, "reason");
      const now = validInput(timeSchema, nowInput, "time");
      await db.writeSoon(() =>
        db
          .sql(
            `UPDATE recipients SET status = 'suppressed', updated_at = ?, last_answer = ?
             WHERE message_id = ? AND address = ?`,
          )
          .run(now, reason, messageId, address),
      );
    },

    async getMessage(id) {
      return db.read((): MessageRecord | undefined => {
        const row = db.sql("SELECT id, accepted_at, payload FROM messages WHERE id = ?").get(id);
        if (row === undefined) return undefined;
        const envelope = envelopeOf(storedValue(messageRow, row, "message row").payload);

        const attempts = new Map<string, DeliveryAttempt[]>();
        for (const attemptRowValue of db
          .sql("SELECT address, payload FROM attempts WHERE message_id = ? ORDER BY address, seq")
          .all(id)) {
          const stored = storedValue(attemptRow, attemptRowValue, "attempt row");
          const list = attempts.get(stored.address) ?? [];
          list.push(withoutEmpty(storedJson(attemptSchema, stored.payload, "attempt")));
          attempts.set(stored.address, list);
        }
        const recipients = recipientRows(id).map(
          (r): RecipientRecord =>
            withoutEmpty({
              address: r.address,
              status: r.status,
              updatedAt: r.updated_at,
              lastAnswer: r.last_answer ?? undefined,
              attempts: attempts.get(r.address) ?? [],
            }),
        );
        const events = db
          .sql("SELECT payload FROM events WHERE message_id = ? ORDER BY at, seq")
          .all(id)
          .map(
            (e): StoredEvent =>
              storedJson(
                storedEventSchema,
                storedValue(z.object({ payload: z.string() }), e, "event row").payload,
                "event",
              ),
          );
        return { ...envelope, recipients, events };
      });
    },

    async listMessages(account, query: MessageQuery = {}) {
      const limit = pageLimit(query.limit);
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor, queryCursor);
      const status =
        query.status === undefined ? undefined : validInput(statusSchema, query.status, "status");
      const params = {
        account,
        fetch: limit + 1,
        since: query.since ?? null,
        until: query.until ?? null,
        group: query.group ?? null,
        rcpt: query.rcpt === undefined ? null : query.rcpt.toLowerCase(),
        status: status ?? null,
        cursorAt: cursor?.[0] ?? null,
        cursorId: cursor?.[1] ?? null,
      };
      const filters = (Object.keys(FILTERS) as Filter[]).filter((f) =>
        f === "cursor" ? cursor !== undefined : params[f] !== null,
      );
      return db.read(() => {
        const rows = db.sql(listSql(filters)).all(params);
        return toPage(rows, limit, summaryOf, (row) => {
          const stored = storedValue(messageRow, row, "message row");
          return [stored.accepted_at, stored.id];
        });
      });
    },

    async purgeMessages(beforeInput) {
      const before = validInput(timeSchema, beforeInput, "time");
      let purged = 0;
      for (;;) {
        const batch = db.write(() => {
          const ids = db
            .sql("SELECT id FROM messages WHERE accepted_at < ? LIMIT ?")
            .all(before, PURGE_BATCH)
            .map((row) => storedValue(idRow, row, "message id").id);
          for (const id of ids) deleteMessage(id);
          return ids.length;
        });
        purged += batch;
        if (batch < PURGE_BATCH) return purged;
        // Let SMTP sessions and deliveries run between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
  };
}
