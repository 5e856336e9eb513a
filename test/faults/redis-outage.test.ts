/**
 * Redis killed for 10 s under load, on a real relay process with the Redis
 * store (a private redis-server keeping its data in an append-only file, as
 * a production Redis would): while it is gone the relay answers 451 4.3.0 and
 * acknowledges nothing it could not log; when it is back, intake and
 * delivery resume by themselves, and every acknowledged message arrives.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it, onTestFinished } from "vitest";
import { startRedisServer } from "../support/redis-server.js";
import { startRelayProcess } from "../support/relay-process.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { outcome, relayConfig, SLOW_START, sendLoad } from "./harness.js";

const OUTAGE_MS = 10_000;

describe("Redis killed for 10 s", () => {
  it("answers 451 4.3.0 meanwhile, resumes intake and delivery by itself, loses nothing acknowledged", async () => {
    const dir = await tempDir("relayfleet-redis-outage-");
    const redisArgs = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    const redis = await startRedisServer({ args: redisArgs });
    let current = redis;
    onTestFinished(() => current.stop());
    const sink = await startSmtpPeer();
    onTestFinished(() => sink.stop());
    const relay = await startRelayProcess(
      dir,
      relayConfig(sink.port, { store: { redis: redis.url }, apiToken: "fault-test-token-0123456789" }),
      SLOW_START,
    );
    onTestFinished(() => relay.kill9());

    // About 28 s of load, one message every 40 ms: 6 s before the kill, 10 s without Redis, the rest after.
    const loading = sendLoad(relay.smtpPort, 700, { prefix: "ro", paceMs: 40, connections: 6 });
    await sleep(6_000);
    const killedAt = Date.now();
    await redis.kill9();
    await sleep(OUTAGE_MS);
    current = await startRedisServer({ args: redisArgs, port: redis.port });
    const backAt = Date.now();
    const load = await loading;

    const during = load.answers.filter((a) => a.at > killedAt + 1_000 && a.at < backAt);
    const after = load.answers.filter((a) => a.at > backAt + 5_000);
    const refusedDuring = during.filter((a) => !a.reply.startsWith("250"));
    // While Redis is gone: temporary refusals, 451 4.3.0 (the store is unavailable), never a 5xx.
    expect(refusedDuring.length).toBeGreaterThan(0);
    for (const answer of load.answers.filter((a) => !a.reply.startsWith("250")))
      expect(answer.reply, answer.tag).toMatch(/^451 4\.3\.0 /);
    expect(load.unanswered).toBe(0);
    // Back by itself: the last answers are all 250s.
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((a) => a.reply.startsWith("250"))).toBe(true);

    // Every 250 is delivered (or bounced with a notice); duplicates are counted and bounded.
    await expect
      .poll(() => outcome(load.acked, sink.received, "ro").lost.length, { timeout: 60_000, interval: 500 })
      .toBe(0);
    const result = outcome(load.acked, sink.received, "ro");
    expect(result.duplicates).toBeLessThanOrEqual(load.acked.size / 10);
    console.log(
      `Redis outage: sent 700, acknowledged ${load.acked.size}, refused 451 4.3.0 ${700 - load.acked.size} ` +
        `(${refusedDuring.length} while Redis was down, when ${during.length - refusedDuring.length} got a 250), delivered ${result.delivered}, duplicates ${result.duplicates}, lost ${result.lost.length}`,
    );
  }, 150_000);
});
