/** Sending counters, fixed-window rate counters and transactional groups. */

import {
  GROUP_NAME_PATTERN,
  GROUP_NAME_RULE,
  type LimitWindow,
  type SendingCounts,
  type SendingLimits,
  type TransactionalGroup,
} from "../../vocabulary.js";
import type { LimitCheck } from "../types.js";
import { StoreError } from "../types.js";
import { byCodeUnit } from "./codecs.js";
import type { RedisContext } from "./context.js";
import { DAY_MS, HOUR_MS, monthEnd } from "./keys.js";
import { replyArray, replyNumber } from "./scripts.js";

const WINDOWS: readonly LimitWindow[] = ["hour", "day", "month"];
/** Counters outlive their window by a little, so a late reader at the boundary still sees them. */
const GRACE_MS = 60_000;

/** When each window containing `now` ends. */
export function windowEnds(now: number): [number, number, number] {
  return [(Math.floor(now / HOUR_MS) + 1) * HOUR_MS, (Math.floor(now / DAY_MS) + 1) * DAY_MS, monthEnd(now)];
}

function limitNumber(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new StoreError("invalid", `${what} must be an integer >= 0`);
  return value;
}

export async function checkAndIncrement(
  ctx: RedisContext,
  account: string,
  limits: SendingLimits,
  count: number,
  now: number,
): Promise<LimitCheck> {
  const args = [
    limitNumber(count, "count"),
    limitNumber(limits.perHour, "perHour"),
    limitNumber(limits.perDay, "perDay"),
    limitNumber(limits.perMonth, "perMonth"),
    limits.overageAllowed ? "1" : "0",
    ...windowEnds(now).map((end) => end - now + GRACE_MS),
  ];
  const reply = replyArray(
    await ctx.scripts.run(
      "checkAndIncrement",
      [ctx.keys.sentHour(account, now), ctx.keys.sentDay(account, now), ctx.keys.sentMonth(account, now)],
      args,
    ),
  ).map(replyNumber);
  const [allowed, overage, exceeded, hour, day, month] = reply;
  const window = exceeded ? WINDOWS[exceeded - 1] : undefined;
  const check: LimitCheck = {
    allowed: allowed === 1,
    overage: overage === 1,
    counts: { hour: hour ?? 0, day: day ?? 0, month: month ?? 0 },
  };
  if (window) check.exceeded = window;
  return check;
}

export async function getCounts(ctx: RedisContext, account: string, now: number): Promise<SendingCounts> {
  const [hour, day, month] = await ctx.client.mget(
    ctx.keys.sentHour(account, now),
    ctx.keys.sentDay(account, now),
    ctx.keys.sentMonth(account, now),
  );
  return { hour: Number(hour ?? 0), day: Number(day ?? 0), month: Number(month ?? 0) };
}

export async function hit(
  ctx: RedisContext,
  key: string,
  windowSeconds: number,
  now: number,
): Promise<number> {
  if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) {
    throw new StoreError("invalid", "windowSeconds must be positive");
  }
  const windowMs = Math.max(1, Math.round(windowSeconds * 1000));
  const index = Math.floor(now / windowMs);
  const ttl = (index + 1) * windowMs - now + 1_000;
  const reply = await ctx.scripts.run("hit", [ctx.keys.hit(key, index)], [ttl]);
  return replyNumber(reply);
}

export async function addGroup(
  ctx: RedisContext,
  account: string,
  name: string,
  now: number,
): Promise<{ created: boolean }> {
  if (!GROUP_NAME_PATTERN.test(name)) throw new StoreError("invalid", `group name: ${GROUP_NAME_RULE}`);
  return { created: (await ctx.client.hsetnx(ctx.keys.groups(account), name, String(now))) === 1 };
}

export async function listGroups(ctx: RedisContext, account: string): Promise<TransactionalGroup[]> {
  const groups = await ctx.client.hgetall(ctx.keys.groups(account));
  return Object.entries(groups)
    .map(([name, createdAt]) => {
      const at = Number(createdAt);
      if (!Number.isFinite(at))
        throw new StoreError("invalid", `stored group ${name} has no valid createdAt`);
      return { name, createdAt: at };
    })
    .sort((a, b) => byCodeUnit(a.name, b.name));
}
