/** Webhook registrations, one row each; `events` is a JSON array of event types. */
import { z } from "zod";
import type { Store } from "../types.js";
import type { LocalContext } from "./context.js";
import { EVENT_TYPES } from "./records.js";
import { nameSchema, storedJson, storedValue, timeSchema, validInput } from "./validate.js";

type WebhookOps = Pick<Store, "putWebhook" | "listWebhooks" | "deleteWebhook">;

const eventsSchema = z.array(z.enum(EVENT_TYPES)).min(1);

const webhookSchema = z.object({
  id: z.string().min(1).max(64),
  account: nameSchema,
  url: z.url({ protocol: /^https?$/ }).max(2048),
  events: eventsSchema,
  secret: z.string().min(16).max(256),
  createdAt: timeSchema,
  active: z.boolean(),
});

const webhookRow = z.object({
  account: z.string(),
  id: z.string(),
  url: z.string(),
  events: z.string(),
  secret: z.string(),
  created_at: timeSchema,
  active: z.union([z.literal(0), z.literal(1)]),
});

export function webhookOps({ db, changes }: LocalContext): WebhookOps {
  return {
    async putWebhook(input) {
      const hook = validInput(webhookSchema, input, "webhook");
      db.write(() =>
        db
          .sql(
            `INSERT INTO webhooks (account, id, url, events, secret, created_at, active)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (account, id) DO UPDATE SET url = excluded.url, events = excluded.events,
               secret = excluded.secret, created_at = excluded.created_at, active = excluded.active`,
          )
          .run(
            hook.account,
            hook.id,
            hook.url,
            JSON.stringify(hook.events),
            hook.secret,
            hook.createdAt,
            hook.active ? 1 : 0,
          ),
      );
      changes.publish({ kind: "webhooks", account: hook.account });
    },

    async listWebhooks(account) {
      return db.read(() =>
        db
          .sql(
            `SELECT account, id, url, events, secret, created_at, active FROM webhooks
             WHERE account = ? ORDER BY created_at, id`,
          )
          .all(account)
          .map((row) => {
            const stored = storedValue(webhookRow, row, "webhook row");
            return {
              id: stored.id,
              account: stored.account,
              url: stored.url,
              events: storedJson(eventsSchema, stored.events, "webhook events"),
              secret: stored.secret,
              createdAt: stored.created_at,
              active: stored.active === 1,
            };
          }),
      );
    },

    async deleteWebhook(account, id) {
      const removed = db.write(
        () => db.sql("DELETE FROM webhooks WHERE account = ? AND id = ?").run(account, id).changes > 0,
      );
      if (removed) changes.publish({ kind: "webhooks", account });
      return removed;
    },
  };
}
