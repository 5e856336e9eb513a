/**
 * What the Redis adapter promises beyond the shared contract
 * (test/store/redis.test.ts runs that): stored payloads are validated, events
 * per message are capped, names cannot escape their hash tag, listener
 * failures are logged, and a Redis that is not there fails fast.
 */
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import fc from "fast-check";
import { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { keyPart, storeKeys } from "../../relay/store/redis/keys.js";
import { MAX_EVENTS_PER_MESSAGE } from "../../relay/store/redis/stats.js";
import { type Store, StoreError } from "../../relay/store/types.js";
import { freePort } from "../support/free-port.js";
import { account, currentHour, event, newMessage } from "./fixtures.js";

async function openFresh(options: { logger?: pino.Logger } = {}) {
  const prefix = `u${randomUUID()}:`;
  const store = await openRedisStore({ url: inject("redisUrl"), prefix, ...options });
  const raw = new Redis(inject("redisUrl"));
  onTestFinished(async () => {
    await store.close();
    raw.disconnect();
  });
  return { store, raw, keys: storeKeys(prefix) };
}

async function failureOf(call: () => Promise<unknown>): Promise<StoreError> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

describe("redis store adapter", () => {
  it("raises StoreError('invalid') for corrupt stored payloads instead of returning them", async () => {
    const { store, raw, keys } = await openFresh();
    await raw.hset(keys.accounts, "acme", '{"name":"acme","allowedIps":"not a list"}');
    await raw.hset(keys.accountsCreated, "acme", "1");
    await raw.hset(keys.routeTables, "default", "{not json");
    await raw.hset(keys.suppressions("acme", "bounces"), "a@example.org", '{"address":1}');
    await raw.hset(keys.message("M1"), "meta", "[]", "rcpts", "[]");

    expect((await failureOf(() => store.getAccount("acme"))).code).toBe("invalid");
    expect((await failureOf(() => store.listAccounts())).code).toBe("invalid");
    expect((await failureOf(() => store.getRouteTable("default"))).code).toBe("invalid");
    expect((await failureOf(() => store.getSuppression("acme", "bounces", "a@example.org"))).code).toBe(
      "invalid",
    );
    expect((await failureOf(() => store.getMessage("M1"))).code).toBe("invalid");
  });

  it("caps stored events per message while the counts go on", async () => {
    const { store } = await openFresh();
    const t = currentHour();
    const message = newMessage({ acceptedAt: t, recipients: ["a@example.org"] });
    await store.recordMessage(message);
    const total = MAX_EVENTS_PER_MESSAGE + 50;
    for (let i = 0; i < total; i++)
      await store.recordEvent(event("click", message.id, "a@example.org", t + i));
    // A delivery event still finds room past the tracking cap.
    await store.recordEvent(event("bounced", message.id, "a@example.org", t + total));

    const stored = await store.getMessage(message.id);
    expect(stored?.events.filter((e) => e.type === "click")).toHaveLength(MAX_EVENTS_PER_MESSAGE);
    expect(stored?.events.at(-1)?.type).toBe("bounced");
    expect(await store.getMessageStats(message.id)).toMatchObject({
      clicks: total,
      uniqueClicks: 1,
      bounced: 1,
    });
  }, 30_000);

  it("keeps names with hash-tag and separator characters apart", async () => {
    const { store } = await openFresh();
    const limits = { perHour: 0, perDay: 0, perMonth: 0, overageAllowed: false };
    const now = currentHour();
    for (const name of ["a", "a}", "a}:sent", "{a}", "a%7D"])
      await store.checkAndIncrement(name, limits, 1, now);
    expect((await store.getCounts("a", now)).hour).toBe(1);
    expect((await store.getCounts("a}:sent", now)).hour).toBe(1);
    await store.addGroup("acme", "g:1", now);
    await store.addGroup("acme", "g/1", now);
    expect((await store.listGroups("acme")).map((g) => g.name)).toEqual(["g/1", "g:1"]);
  });

  it("escapes key parts injectively, never leaving a brace or separator", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(keyPart(a)).not.toMatch(/[{}:]/);
        if (a !== b) expect(keyPart(a)).not.toBe(keyPart(b));
      }),
    );
  });

  it("logs a listener that throws, and still calls the others", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const { store } = await openFresh({ logger: pino({ level: "info" }, sink) });
    const heard: string[] = [];
    store.onChange(() => {
      throw new Error("listener bug");
    });
    const delivered = new Promise<void>((resolve) =>
      store.onChange((change) => {
        heard.push(change.kind);
        resolve();
      }),
    );
    await store.putAccount(account("acme"));
    await delivered;
    expect(heard).toEqual(["account"]);
    expect(
      lines.some((line) => line.includes("store change listener failed") && line.includes("listener bug")),
    ).toBe(true);
  });

  it("fails to open with StoreError('unavailable') when nothing listens", async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failureOf(
      () => openRedisStore({ url: `redis://127.0.0.1:${port}` }) as Promise<Store>,
    );
    expect(error.code).toBe("unavailable");
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
