/**
 * Newest-first paging over a sorted set scored by time, where equal scores
 * are ordered by member, descending (what ZREVRANGEBYSCORE gives). The
 * cursor is the (score, member) of the last item returned, so a page never
 * repeats or skips an item that was there when the first page was read.
 */

import { z } from "zod";
import { decodeCursor, encodeCursor } from "./codecs.js";
import type { RedisClient } from "./connection.js";

const positionSchema = z.tuple([z.number(), z.string()]);
type Position = z.infer<typeof positionSchema>;

export interface DescendingPageOptions<T> {
  key: string;
  /** score >= since */
  since?: number;
  /** score < until */
  until?: number;
  cursor?: string;
  limit: number;
  /** Turns members into items; undefined drops a member (filtered out or gone). */
  load(members: { member: string; score: number }[]): Promise<(T | undefined)[]>;
  /** Upper bound on members examined per call: a filtered page may come back short, with a cursor. */
  maxScanned?: number;
  chunk?: number;
}

export async function pageDescending<T>(
  client: RedisClient,
  options: DescendingPageOptions<T>,
): Promise<{ items: T[]; nextCursor?: string }> {
  const chunk = options.chunk ?? Math.max(options.limit + 1, 100);
  const maxScanned = options.maxScanned ?? 10_000;
  const after: Position | undefined =
    options.cursor === undefined ? undefined : decodeCursor(positionSchema, options.cursor);
  const max =
    after !== undefined ? String(after[0]) : options.until !== undefined ? `(${options.until}` : "+inf";
  const min = options.since !== undefined ? String(options.since) : "-inf";
  const items: T[] = [];
  let lastReturned: Position | undefined;
  let offset = 0;
  let scanned = 0;
  for (;;) {
    const raw = await client.zrevrangebyscore(options.key, max, min, "WITHSCORES", "LIMIT", offset, chunk);
    offset += raw.length / 2;
    const members: { member: string; score: number }[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const member = raw[i] ?? "";
      const score = Number(raw[i + 1]);
      // Equal-score members at or before the cursor were on earlier pages.
      if (after !== undefined && score === after[0] && member >= after[1]) continue;
      members.push({ member, score });
    }
    const loaded = await options.load(members);
    for (let i = 0; i < members.length; i++) {
      const member = members[i];
      const item = loaded[i];
      if (member === undefined) continue;
      scanned++;
      if (item !== undefined) {
        if (items.length === options.limit) {
          return { items, nextCursor: encodeCursor(lastReturned) };
        }
        items.push(item);
        lastReturned = [member.score, member.member];
      }
      if (scanned >= maxScanned) {
        const position: Position = [member.score, member.member];
        return { items, nextCursor: encodeCursor(position) };
      }
    }
    if (raw.length / 2 < chunk) return { items };
  }
}
