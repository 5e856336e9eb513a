/**
 * Route tables and blocked (sender, domain) pairs.
 */
import { z } from "zod";
import { routeTableSchema } from "../../routes/schema.js";
import type { BlockedPair } from "../../vocabulary.js";
import type { Store } from "../types.js";
import type { LocalContext } from "./context.js";
import {
  nameSchema,
  orNull,
  storedJson,
  storedValue,
  timeSchema,
  validInput,
  withoutEmpty,
} from "./validate.js";

type RoutingOps = Pick<
  Store,
  | "putRouteTable"
  | "getRouteTable"
  | "listRouteTables"
  | "deleteRouteTable"
  | "reportBlocked"
  | "listBlocked"
  | "clearBlocked"
>;

const routeRow = z.object({ name: z.string(), payload: z.string() });
const blockedSchema = z.object({
  sender: z.string().min(1).max(253),
  domain: z
    .string()
    .min(1)
    .max(253)
    .transform((d) => d.toLowerCase()),
  since: timeSchema,
  until: timeSchema,
  reason: z.string().transform((s) => s.slice(0, 4000)),
  reportedBy: z.string().min(1).max(253).optional(),
});
const blockedRow = z.object({
  sender: z.string(),
  domain: z.string(),
  since: timeSchema,
  until: timeSchema,
  reason: z.string(),
  reported_by: z.string().nullable(),
});
const untilRow = z.object({ since: timeSchema, until: timeSchema });

function toPair(row: unknown): BlockedPair {
  const stored = storedValue(blockedRow, row, "blocked pair");
  return withoutEmpty({
    sender: stored.sender,
    domain: stored.domain,
    since: stored.since,
    until: stored.until,
    reason: stored.reason,
    reportedBy: stored.reported_by ?? undefined,
  });
}

export function routingOps({ db, changes }: LocalContext): RoutingOps {
  return {
    async putRouteTable(nameInput, tableInput) {
      const name = validInput(nameSchema, nameInput, "route table name");
      const table = validInput(routeTableSchema, tableInput, "route table");
      db.write(() =>
        db
          .sql(
            "INSERT INTO route_tables (name, payload) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET payload = excluded.payload",
          )
          .run(name, JSON.stringify(table)),
      );
      changes.publish({ kind: "routes", name });
    },

    async getRouteTable(name) {
      return db.read(() => {
        const row = db.sql("SELECT name, payload FROM route_tables WHERE name = ?").get(name);
        if (row === undefined) return undefined;
        return storedJson(
          routeTableSchema,
          storedValue(routeRow, row, "route table row").payload,
          "route table",
        );
      });
    },

    async listRouteTables() {
      return db.read(() =>
        db
          .sql("SELECT name, payload FROM route_tables ORDER BY name")
          .all()
          .map((row) => {
            const stored = storedValue(routeRow, row, "route table row");
            return { name: stored.name, table: storedJson(routeTableSchema, stored.payload, "route table") };
          }),
      );
    },

    async deleteRouteTable(name) {
      const existed = db.write(() => db.sql("DELETE FROM route_tables WHERE name = ?").run(name).changes > 0);
      if (existed) changes.publish({ kind: "routes", name });
      return existed;
    },

    async reportBlocked(input) {
      const pair = validInput(blockedSchema, input, "blocked pair");
      db.write(() => {
        const row = db
          .sql("SELECT since, until FROM blocked WHERE sender = ? AND domain = ?")
          .get(pair.sender, pair.domain);
        const existing = row === undefined ? undefined : storedValue(untilRow, row, "blocked pair");
        // The later `until` wins; an equal one refreshes the reason (as the Redis adapter does).
        if (existing !== undefined && existing.until > pair.until) return;
        db.sql(
          `INSERT INTO blocked (sender, domain, since, until, reason, reported_by) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (sender, domain) DO UPDATE SET since = excluded.since, until = excluded.until,
             reason = excluded.reason, reported_by = excluded.reported_by`,
        ).run(pair.sender, pair.domain, pair.since, pair.until, pair.reason, orNull(pair.reportedBy));
      });
      changes.publish({ kind: "blocked" });
    },

    async listBlocked(nowInput) {
      const now = validInput(timeSchema, nowInput, "time");
      return db.read(() =>
        db
          .sql(
            "SELECT sender, domain, since, until, reason, reported_by FROM blocked WHERE until > ? ORDER BY sender, domain",
          )
          .all(now)
          .map(toPair),
      );
    },

    async clearBlocked(sender, domain) {
      const cleared = db.write(
        () =>
          db.sql("DELETE FROM blocked WHERE sender = ? AND domain = ?").run(sender, domain.toLowerCase())
            .changes > 0,
      );
      if (cleared) changes.publish({ kind: "blocked" });
      return cleared;
    },
  };
}
