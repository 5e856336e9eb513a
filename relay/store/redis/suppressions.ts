/** Suppression lists: per account and list, a hash of entries and a lexicographic index for paging. */
import { z } from "zod";
import { SUPPRESSION_LISTS, type SuppressionEntry, type SuppressionList } from "../../vocabulary.js";
import { type Page, type PageQuery, StoreError } from "../types.js";
import {
  checkInput,
  compact,
  decodeCursor,
  decodeStored,
  encodeCursor,
  pageLimit,
  suppressionEntrySchema,
} from "./codecs.js";
import type { RedisContext } from "./context.js";

/** How many index entries one ZRANGE reads while filtering by `search`. */
const SCAN_CHUNK = 1_000;

const listSchema = z.enum(["bounces", "unsubscribes", "complaints"]);
const cursorSchema = z.tuple([z.string()]);

function checkList(list: SuppressionList): SuppressionList {
  return checkInput(listSchema, list, "suppression list");
}

export async function addSuppression(
  ctx: RedisContext,
  account: string,
  input: Omit<SuppressionEntry, "address"> & { address: string },
): Promise<void> {
  const entry = checkInput(suppressionEntrySchema, compact(input), "suppression entry");
  const address = entry.address.toLowerCase();
  if (address === "") throw new StoreError("invalid", "suppression address is empty");
  const stored: SuppressionEntry = compact({ ...entry, address });
  await ctx.scripts.run(
    "addSuppression",
    [ctx.keys.suppressions(account, entry.list), ctx.keys.suppressionIndex(account, entry.list)],
    [address, JSON.stringify(stored)],
  );
  await ctx.notify({ kind: "suppression", account });
}

export async function removeSuppression(
  ctx: RedisContext,
  account: string,
  list: SuppressionList,
  address: string,
): Promise<boolean> {
  checkList(list);
  const removed = await ctx.scripts.run(
    "removeSuppression",
    [ctx.keys.suppressions(account, list), ctx.keys.suppressionIndex(account, list)],
    [address.toLowerCase()],
  );
  if (removed === 1) await ctx.notify({ kind: "suppression", account });
  return removed === 1;
}

export async function getSuppression(
  ctx: RedisContext,
  account: string,
  list: SuppressionList,
  address: string,
): Promise<SuppressionEntry | undefined> {
  checkList(list);
  const json = await ctx.client.hget(ctx.keys.suppressions(account, list), address.toLowerCase());
  return json === null ? undefined : decodeStored(suppressionEntrySchema, json, "suppression entry");
}

export async function suppressionsFor(
  ctx: RedisContext,
  account: string,
  address: string,
): Promise<SuppressionEntry[]> {
  const lower = address.toLowerCase();
  const pipeline = ctx.client.pipeline();
  for (const list of SUPPRESSION_LISTS) pipeline.hget(ctx.keys.suppressions(account, list), lower);
  const results = (await pipeline.exec()) ?? [];
  const entries: SuppressionEntry[] = [];
  for (const [error, json] of results) {
    if (error) throw error;
    if (typeof json === "string")
      entries.push(decodeStored(suppressionEntrySchema, json, "suppression entry"));
  }
  return entries;
}

/**
 * Sorted by address. With `search`, the index is read in chunks and filtered
 * here rather than in a Lua loop, so a rare match in a huge list costs
 * round trips, not a blocked Redis.
 */
export async function listSuppressions(
  ctx: RedisContext,
  account: string,
  list: SuppressionList,
  query: PageQuery & { search?: string } = {},
): Promise<Page<SuppressionEntry>> {
  checkList(list);
  const limit = pageLimit(query.limit);
  const needle = query.search?.toLowerCase() ?? "";
  const indexKey = ctx.keys.suppressionIndex(account, list);
  let after = query.cursor === undefined ? undefined : decodeCursor(cursorSchema, query.cursor)[0];
  const addresses: string[] = [];
  let more = false;
  for (;;) {
    const chunk = await ctx.client.zrangebylex(
      indexKey,
      after === undefined ? "-" : `(${after}`,
      "+",
      "LIMIT",
      0,
      SCAN_CHUNK,
    );
    for (const address of chunk) {
      if (needle !== "" && !address.includes(needle)) continue;
      if (addresses.length === limit) {
        more = true;
        break;
      }
      addresses.push(address);
    }
    if (more || chunk.length < SCAN_CHUNK) break;
    after = chunk[chunk.length - 1];
  }
  const items: SuppressionEntry[] = [];
  if (addresses.length > 0) {
    const jsons = await ctx.client.hmget(ctx.keys.suppressions(account, list), ...addresses);
    for (const json of jsons) {
      // Removed between the two reads: skip it rather than fail the page.
      if (json !== null) items.push(decodeStored(suppressionEntrySchema, json, "suppression entry"));
    }
  }
  const last = addresses[addresses.length - 1];
  return more && last !== undefined ? { items, nextCursor: encodeCursor([last]) } : { items };
}
