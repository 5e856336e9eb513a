/** Route tables and blocked (sender, domain) pairs, in the {routes} slot. */

import type { RouteTable } from "../../routes/schema.js";
import { routeTableSchema } from "../../routes/schema.js";
import type { BlockedPair } from "../../vocabulary.js";
import { StoreError } from "../types.js";
import { blockedPairSchema, byCodeUnit, checkInput, compact, decodeStored } from "./codecs.js";
import type { RedisContext } from "./context.js";

export async function putRouteTable(ctx: RedisContext, name: string, input: RouteTable): Promise<void> {
  if (name === "") throw new StoreError("invalid", "route table name is empty");
  const table = checkInput(routeTableSchema, input, "route table");
  await ctx.client.hset(ctx.keys.routeTables, name, JSON.stringify(table));
  await ctx.notify({ kind: "routes", name });
}

export async function getRouteTable(ctx: RedisContext, name: string): Promise<RouteTable | undefined> {
  const json = await ctx.client.hget(ctx.keys.routeTables, name);
  return json === null ? undefined : decodeStored(routeTableSchema, json, `route table ${name}`);
}

export async function listRouteTables(ctx: RedisContext): Promise<{ name: string; table: RouteTable }[]> {
  const all = await ctx.client.hgetall(ctx.keys.routeTables);
  return Object.keys(all)
    .sort(byCodeUnit)
    .map((name) => ({ name, table: decodeStored(routeTableSchema, all[name] ?? "", `route table ${name}`) }));
}

/** Also notifies `{kind: "routes", name}`, so relays drop a table that is gone. */
export async function deleteRouteTable(ctx: RedisContext, name: string): Promise<boolean> {
  const removed = (await ctx.client.hdel(ctx.keys.routeTables, name)) === 1;
  if (removed) await ctx.notify({ kind: "routes", name });
  return removed;
}

function blockedField(sender: string, domain: string): string {
  return `${sender}\n${domain.toLowerCase()}`;
}

export async function reportBlocked(ctx: RedisContext, input: BlockedPair): Promise<void> {
  const parsed = checkInput(blockedPairSchema, compact(input), "blocked pair");
  const pair: BlockedPair = { ...parsed, domain: parsed.domain.toLowerCase() };
  await ctx.scripts.run(
    "reportBlocked",
    [ctx.keys.blocked],
    [blockedField(pair.sender, pair.domain), JSON.stringify(pair), pair.until],
  );
  await ctx.notify({ kind: "blocked" });
}

/**
 * Blocks with `until` > now. Expired entries stay in the hash until cleared
 * or replaced: the hash holds at most senders × blocked domains, so it stays small.
 */
export async function listBlocked(ctx: RedisContext, now: number): Promise<BlockedPair[]> {
  const all = await ctx.client.hvals(ctx.keys.blocked);
  return all
    .map((json) => decodeStored(blockedPairSchema, json, "blocked pair"))
    .filter((pair) => pair.until > now)
    .sort((a, b) => byCodeUnit(a.sender, b.sender) || byCodeUnit(a.domain, b.domain));
}

export async function clearBlocked(ctx: RedisContext, sender: string, domain: string): Promise<boolean> {
  const removed = (await ctx.client.hdel(ctx.keys.blocked, blockedField(sender, domain))) === 1;
  if (removed) await ctx.notify({ kind: "blocked" });
  return removed;
}
