/**
 * Sending counters (hour, day and month windows, UTC), fixed-window rate
 * limit hits, and transactional groups.
 *
 * checkAndIncrement reads and writes in one synchronous transaction on the
 * process's only connection; nothing can run between the check and the
 * increment, so concurrent callers never overshoot a limit.
 */
import { z } from "zod";
import {
  GROUP_NAME_PATTERN,
  GROUP_NAME_RULE,
  type LimitWindow,
  type SendingCounts,
  type SendingLimits,
  type TransactionalGroup,
} from "../../vocabulary.js";
import type { LimitCheck, Store } from "../types.js";
import type { LocalContext } from "./context.js";
import { staleBefore, windowStart } from "./time.js";
import { storedValue, timeSchema, validInput } from "./validate.js";

type CounterOps = Pick<Store, "checkAndIncrement" | "getCounts" | "hit" | "addGroup" | "listGroups">;

const WINDOWS: readonly LimitWindow[] = ["hour", "day", "month"];

const limitsSchema = z.object({
  perHour: z.number().int().min(0),
  perDay: z.number().int().min(0),
  perMonth: z.number().int().min(0),
  overageAllowed: z.boolean(),
});
const countSchema = z.number().int().min(0);
const hitSchema = z.object({ key: z.string().min(1).max(1024), windowSeconds: z.number().int().min(1) });
const groupNameSchema = z.string().regex(GROUP_NAME_PATTERN, GROUP_NAME_RULE);
const countRow = z.object({ count: z.number().int() });
const groupRow = z.object({ name: z.string(), created_at: timeSchema });

/** Every purge of expired hit rows sweeps the whole table, so run it only every so many hits. */
const HIT_SWEEP_EVERY = 1000;

/**
 * The decision of checkAndIncrement, apart from storage: which window (if
 * any) the increment would pass, and whether it is allowed anyway.
 */
export function decideIncrement(
  counts: SendingCounts,
  limits: SendingLimits,
  count: number,
): Omit<LimitCheck, "counts"> {
  const limitOf: Record<LimitWindow, number> = {
    hour: limits.perHour,
    day: limits.perDay,
    month: limits.perMonth,
  };
  const exceeded = WINDOWS.find((w) => limitOf[w] > 0 && counts[w] + count > limitOf[w]);
  if (exceeded === undefined) return { allowed: true, overage: false };
  return limits.overageAllowed
    ? { allowed: true, overage: true, exceeded }
    : { allowed: false, overage: false, exceeded };
}

export function counterOps({ db }: LocalContext): CounterOps {
  let hitsSinceSweep = 0;

  function countIn(account: string, window: LimitWindow, now: number): number {
    const row = db
      .sql("SELECT count FROM send_counts WHERE account = ? AND span = ? AND bucket = ?")
      .get(account, window, windowStart(window, now));
    return row === undefined ? 0 : storedValue(countRow, row, "send count").count;
  }

  function readCounts(account: string, now: number): SendingCounts {
    return {
      hour: countIn(account, "hour", now),
      day: countIn(account, "day", now),
      month: countIn(account, "month", now),
    };
  }

  return {
    async checkAndIncrement(account, limitsInput, countInput, nowInput) {
      const limits = validInput(limitsSchema, limitsInput, "sending limits");
      const count = validInput(countSchema, countInput, "message count");
      const now = validInput(timeSchema, nowInput, "time");
      return db.write((): LimitCheck => {
        const before = readCounts(account, now);
        const decision = decideIncrement(before, limits, count);
        if (!decision.allowed || count === 0) return { ...decision, counts: before };
        const add = db.sql(
          `INSERT INTO send_counts (account, span, bucket, count) VALUES (?, ?, ?, ?)
           ON CONFLICT (account, span, bucket) DO UPDATE SET count = count + excluded.count`,
        );
        const sweep = db.sql("DELETE FROM send_counts WHERE account = ? AND span = ? AND bucket < ?");
        for (const window of WINDOWS) {
          add.run(account, window, windowStart(window, now), count);
          sweep.run(account, window, staleBefore(window, now));
        }
        return {
          ...decision,
          counts: { hour: before.hour + count, day: before.day + count, month: before.month + count },
        };
      });
    },

    async getCounts(account, nowInput) {
      const now = validInput(timeSchema, nowInput, "time");
      return db.read(() => readCounts(account, now));
    },

    async hit(keyInput, windowSecondsInput, nowInput) {
      const { key, windowSeconds } = validInput(
        hitSchema,
        { key: keyInput, windowSeconds: windowSecondsInput },
        "hit",
      );
      const now = validInput(timeSchema, nowInput, "time");
      const windowMs = windowSeconds * 1000;
      const bucket = Math.floor(now / windowMs) * windowMs;
      return db.write(() => {
        if (++hitsSinceSweep >= HIT_SWEEP_EVERY) {
          hitsSinceSweep = 0;
          db.sql("DELETE FROM hits WHERE expires_at < ?").run(now);
        }
        const row = db
          .sql(
            `INSERT INTO hits (key, window_ms, bucket, count, expires_at) VALUES (?, ?, ?, 1, ?)
             ON CONFLICT (key, window_ms, bucket) DO UPDATE SET count = count + 1
             RETURNING count`,
          )
          .get(key, windowMs, bucket, bucket + windowMs);
        return storedValue(countRow, row, "hit count").count;
      });
    },

    async addGroup(account, nameInput, nowInput) {
      const name = validInput(groupNameSchema, nameInput, "group name");
      const now = validInput(timeSchema, nowInput, "time");
      const created = db.write(
        () =>
          db
            .sql(
              "INSERT INTO transactional_groups (account, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .run(account, name, now).changes > 0,
      );
      return { created };
    },

    async listGroups(account) {
      return db.read(() =>
        db
          .sql("SELECT name, created_at FROM transactional_groups WHERE account = ? ORDER BY name")
          .all(account)
          .map((row): TransactionalGroup => {
            const stored = storedValue(groupRow, row, "group");
            return { name: stored.name, createdAt: stored.created_at };
          }),
      );
    },
  };
}
