/** Errors found after acceptance: a capped, time-ordered set per account. */
import type { AccountErrorRecord } from "../../vocabulary.js";
import type { Page, PageQuery, TimeRange } from "../types.js";
import { accountErrorSchema, checkInput, compact, decodeStored, pageLimit } from "./codecs.js";
import { AGGREGATE_TTL_MS, type RedisContext } from "./context.js";
import { pageDescending } from "./paging.js";

/** The contract keeps the last 10,000 per account. */
export const MAX_ERRORS_PER_ACCOUNT = 10_000;

export async function recordError(
  ctx: RedisContext,
  account: string,
  input: AccountErrorRecord,
): Promise<void> {
  const error = checkInput(accountErrorSchema, compact(input), "error record");
  await ctx.scripts.run(
    "recordError",
    [ctx.keys.errors(account), ctx.keys.errorSeq(account)],
    [error.at, JSON.stringify(error), MAX_ERRORS_PER_ACCOUNT, AGGREGATE_TTL_MS],
  );
}

export async function listErrors(
  ctx: RedisContext,
  account: string,
  query: PageQuery & TimeRange = {},
): Promise<Page<AccountErrorRecord>> {
  const page = await pageDescending(ctx.client, {
    key: ctx.keys.errors(account),
    since: query.since,
    until: query.until,
    cursor: query.cursor,
    limit: pageLimit(query.limit),
    load: async (members) =>
      members.map(({ member }) => {
        const bar = member.indexOf("|");
        return decodeStored(accountErrorSchema, member.slice(bar + 1), "error record");
      }),
  });
  return page.nextCursor === undefined ? { items: page.items } : page;
}
