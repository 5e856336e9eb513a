/**
 * The webhook outbox in SQLite (types.ts describes the calls, migrations.ts
 * V3 the tables). A claimed row keeps its claim token and has `due_at` moved
 * to the lease's end, so "due" covers both never-claimed rows and lapsed
 * claims; retrying clears the token and sets the next due time.
 */
import { z } from "zod";
import type { WebhookDelivery } from "../../vocabulary.js";
import {
  checkClaimRequest,
  checkEnqueue,
  chooseClaims,
  claimScanLimit,
  DEFAULT_SKIP_DELAY_MS,
} from "../outbox-input.js";
import { type Store, StoreError } from "../types.js";
import type { LocalContext } from "./context.js";
import { EVENT_TYPES } from "./records.js";
import { storedValue, timeSchema } from "./validate.js";

type OutboxOps = Pick<
  Store,
  | "enqueueWebhookDeliveries"
  | "claimWebhookDeliveries"
  | "finishWebhookDelivery"
  | "retryWebhookDelivery"
  | "countWebhookDeliveries"
>;

const outboxRow = z.object({
  seq: z.number().int(),
  id: z.string(),
  account: z.string(),
  webhook_id: z.string(),
  event_type: z.enum(EVENT_TYPES),
  body: z.string(),
  created_at: timeSchema,
  attempts: z.number().int(),
  claim: z.string().nullable(),
});

const idSchema = z.string().min(1).max(200);

export function outboxOps({ db }: LocalContext): OutboxOps {
  /** Lowers the account's count by the rows just removed. */
  const uncount = (account: string, removed: number) => {
    if (removed > 0)
      db.sql("UPDATE webhook_outbox_counts SET outstanding = max(0, outstanding - ?) WHERE account = ?").run(
        removed,
        account,
      );
  };

  return {
    async enqueueWebhookDeliveries(accountInput, deliveriesInput, maxInput) {
      const { account, deliveries, maxPerAccount } = checkEnqueue(accountInput, deliveriesInput, maxInput);
      if (deliveries.length === 0) return { dropped: 0 };
      return db.writeSoon(() => {
        let added = 0;
        for (const delivery of deliveries) {
          added += db
            .sql(
              `INSERT INTO webhook_outbox (id, account, webhook_id, event_type, body, created_at, due_at)
               VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
            )
            .run(
              delivery.id,
              account,
              delivery.webhookId,
              delivery.eventType,
              delivery.body,
              delivery.createdAt,
              delivery.createdAt,
            ).changes;
        }
        const row = db
          .sql(
            `INSERT INTO webhook_outbox_counts (account, outstanding) VALUES (?, ?)
             ON CONFLICT (account) DO UPDATE SET outstanding = outstanding + excluded.outstanding
             RETURNING outstanding`,
          )
          .get(account, added) as { outstanding: number };
        const over = row.outstanding - maxPerAccount;
        if (over <= 0) return { dropped: 0 };
        const dropped = db
          .sql(
            `DELETE FROM webhook_outbox WHERE seq IN
               (SELECT seq FROM webhook_outbox WHERE account = ? ORDER BY seq LIMIT ?)`,
          )
          .run(account, over).changes;
        uncount(account, dropped);
        return { dropped };
      });
    },

    async claimWebhookDeliveries(input) {
      const request = checkClaimRequest(input);
      if (request.limit === 0) return [];
      return db.write(() => {
        const rows = db
          .sql(
            `SELECT seq, id, account, webhook_id, event_type, body, created_at, attempts, claim
             FROM webhook_outbox WHERE due_at <= ? ORDER BY due_at, id LIMIT ?`,
          )
          .all(request.now, claimScanLimit(request.limit))
          .map((row) => storedValue(outboxRow, row, "outbox row"))
          .map((row) => ({ ...row, webhookId: row.webhook_id }));
        const { take, skip } = chooseClaims(rows, request);
        const later = request.now + (request.skipDelayMs ?? DEFAULT_SKIP_DELAY_MS);
        for (const row of skip)
          db.sql("UPDATE webhook_outbox SET due_at = ? WHERE seq = ?").run(later, row.seq);
        const leaseEnd = request.now + request.leaseMs;
        return take.map((row): WebhookDelivery => {
          const attempts = row.attempts + 1;
          const claim = `${request.owner}/${attempts}`;
          db.sql("UPDATE webhook_outbox SET attempts = ?, claim = ?, due_at = ? WHERE seq = ?").run(
            attempts,
            claim,
            leaseEnd,
            row.seq,
          );
          return {
            id: row.id,
            account: row.account,
            webhookId: row.webhook_id,
            eventType: row.event_type,
            body: row.body,
            createdAt: row.created_at,
            attempts,
            claim,
            reclaimed: row.claim !== null,
          };
        });
      });
    },

    async finishWebhookDelivery(delivery) {
      const id = validId(delivery.id);
      return db.write(() => {
        const removed = db
          .sql("DELETE FROM webhook_outbox WHERE id = ? AND claim = ? RETURNING account")
          .get(id, delivery.claim) as { account: string } | undefined;
        if (removed) uncount(removed.account, 1);
        return removed !== undefined;
      });
    },

    async retryWebhookDelivery(delivery, dueAt) {
      const id = validId(delivery.id);
      if (!Number.isInteger(dueAt)) throw new StoreError("invalid", "invalid dueAt: an integer time");
      return db.write(
        () =>
          db
            .sql("UPDATE webhook_outbox SET claim = NULL, due_at = ? WHERE id = ? AND claim = ?")
            .run(dueAt, id, delivery.claim).changes > 0,
      );
    },

    async countWebhookDeliveries(account) {
      return db.read(() => {
        const row =
          account === undefined
            ? db.sql("SELECT count(*) AS n FROM webhook_outbox").get()
            : db.sql("SELECT count(*) AS n FROM webhook_outbox WHERE account = ?").get(account);
        return (row as { n: number }).n;
      });
    },
  };
}

function validId(id: unknown): string {
  const result = idSchema.safeParse(id);
  if (!result.success) throw new StoreError("invalid", "invalid delivery id");
  return result.data;
}
