/**
 * Webhooks at least once across a crash, on a real relay process: the
 * receiver is down (it takes connections and never answers) while every
 * message is delivered, so each delivered event waits in the outbox and a
 * few POSTs hang, claimed; the relay is killed with SIGKILL, restarted on the
 * same data, and the receiver comes up: every event arrives, the hung ones
 * once their claims' lease has run out.
 */
import { createServer } from "node:http";
import { describe, expect, it, onTestFinished } from "vitest";
import { freePort } from "../support/free-port.js";
import { startRedisServer } from "../support/redis-server.js";
import { startRelayProcess } from "../support/relay-process.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { apiToken, callApi, metricValue, relayConfig, SLOW_START, sendLoad } from "./harness.js";

const MESSAGES = 40;

/** A receiver that is "down": it reads each request and never answers. */
async function startHangingOn(port: number) {
  let hung = 0;
  const server = createServer((request) => {
    request.resume();
    hung++;
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    hung: () => hung,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function startReceiverOn(port: number) {
  const posts: { delivery: string; messageId: string }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { messageId: string };
      posts.push({ delivery: String(request.headers["x-relayfleet-delivery"]), messageId: body.messageId });
      response.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return posts;
}

describe.each(["local", "redis"] as const)("webhooks across kill -9 (%s store)", (kind) => {
  it("sends every delivered event once the receiver is back, after a SIGKILL and a restart", async () => {
    const dir = await tempDir("relayfleet-webhook-kill-");
    const sink = await startSmtpPeer();
    onTestFinished(() => sink.stop());
    const receiverPort = await freePort();
    // A private Redis: another test's relay on the shared one would share the (fleet-wide) outbox.
    const redis = kind === "redis" ? await startRedisServer() : undefined;
    if (redis) onTestFinished(() => redis.stop());
    const config = relayConfig(sink.port, {
      webhooks: { allowPrivateTargets: ["127.0.0.0/8"], leaseSeconds: 15 },
      ...(kind === "redis" ? { store: { redis: redis?.url }, apiToken: "fault-test-token-0123456789" } : {}),
    });
    const first = await startRelayProcess(dir, config, SLOW_START);
    onTestFinished(() => first.kill9());
    const token = kind === "redis" ? "fault-test-token-0123456789" : await apiToken(dir);
    const created = await callApi(first.apiPort, token, "POST", "/v1/accounts/shop/webhooks", {
      url: `http://127.0.0.1:${receiverPort}/hooks`,
      events: ["delivered"],
    });
    expect(created.status).toBe(201);

    const down = await startHangingOn(receiverPort);
    onTestFinished(() => down.close());
    const load = await sendLoad(first.smtpPort, MESSAGES, { prefix: "wk" });
    expect(load.acked.size).toBe(MESSAGES);
    await sink.waitForMessages(MESSAGES, 30_000);
    // Every event is in the outbox, and POSTs hang at the receiver (4 at a time: the per-webhook limit).
    await expect
      .poll(() => metricValue(first.metricsPort, "relayfleet_webhook_queue"), {
        timeout: 20_000,
        interval: 200,
      })
      .toBeGreaterThanOrEqual(MESSAGES);
    await expect.poll(() => down.hung(), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await first.kill9();
    await down.close();

    const restarted = await startRelayProcess(dir, config, SLOW_START);
    onTestFinished(async () => {
      await restarted.stop();
    });
    const posts = await startReceiverOn(receiverPort);
    // Retries are due within the backoff so far (a few seconds); a claim cut by the kill after its lease (15 s).
    await expect
      .poll(() => new Set(posts.map((p) => p.delivery)).size, { timeout: 50_000, interval: 250 })
      .toBe(sink.received.length);
    // One delivered event per copy the sink took (a copy sent twice under load has two).
    const events = sink.received.length;
    expect(new Set(posts.map((p) => p.messageId)).size).toBe(MESSAGES);
    const deliveries = new Set(posts.map((p) => p.delivery));
    const duplicates = posts.length - deliveries.size;
    expect(deliveries.size).toBe(events);
    // Only a POST cut by the kill can arrive twice: at most one per claim in flight then.
    expect(duplicates).toBeLessThanOrEqual(16);
    await expect
      .poll(() => metricValue(restarted.metricsPort, "relayfleet_webhook_queue"), { timeout: 10_000 })
      .toBe(0);
    // The POSTs hung at the kill were claimed: sent again only once their lease ran out.
    const reclaimed = await metricValue(restarted.metricsPort, "relayfleet_webhook_reclaimed_total");
    expect(reclaimed).toBeGreaterThanOrEqual(1);
    console.log(
      `webhooks across kill -9 (${kind}): messages ${MESSAGES}, events ${events}, POSTs hung at the kill ${down.hung()}, POSTs received ${posts.length}, distinct ${deliveries.size}, duplicates ${duplicates}, reclaimed after the lease ${reclaimed}`,
    );
  }, 120_000);
});
