/**
 * Tracking server throughput on this machine: autocannon against the pixel and
 * the click redirect of a real tracking server over the embedded (SQLite) store,
 * on loopback only, for a bounded time. Every request records an event. The
 * machine has 2 cores: the load generator takes one of them.
 *
 *   npx tsx test/tracking/bench.ts [seconds=10] [connections=50]
 *   REDIS_URL=redis://127.0.0.1:6390 npx tsx test/tracking/bench.ts   (the Redis store instead)
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { accountSchema } from "../../relay/accounts/schema.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { startTrackingServer } from "../../relay/tracking/server.js";
import { makeKeyring, signToken } from "../../relay/tracking/token.js";

const seconds = Math.min(Number(process.argv[2] ?? 10), 60);
const connections = Math.min(Number(process.argv[3] ?? 50), 200);

const dir = await mkdtemp(join(tmpdir(), "relayfleet-bench-"));
// A high cap so per-message trimming does not change what is measured.
const redisUrl = process.env.REDIS_URL;
const store = redisUrl
  ? await openRedisStore({ url: redisUrl, prefix: `bench:${Date.now()}:` })
  : await openLocalStore({ dir, maxEventsPerMessage: 10_000_000 });
const now = Date.now();
await store.putAccount(accountSchema.parse({ name: "bench", createdAt: now, updatedAt: now }));
const recipients = Array.from({ length: 100 }, (_, i) => `r${i}@example.org`);
await store.recordMessage({
  id: "BENCH1",
  account: "bench",
  from: "a@b.c",
  recipients,
  size: 1,
  acceptedAt: now,
});
const keys = makeKeyring({ id: "k1", secret: Buffer.alloc(32, 7) });
// The bench measures recording, so the per-token and per-IP recording limits are off.
const server = await startTrackingServer(
  { store, keys, metrics: createMetrics(), recordingLimits: { perIpPerMinute: 0, perTokenPerMinute: 0 } },
  "127.0.0.1",
  0,
);
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const userAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

async function run(name: string, paths: string[]) {
  const result = await autocannon({
    url: base,
    connections,
    duration: seconds,
    // The load generator runs in a worker thread, so the server's event loop is its own.
    workers: 1,
    headers: { "user-agent": userAgent },
    requests: paths.map((path) => ({ method: "GET", path })),
  });
  const non2xx = result.non2xx - (name === "redirect" ? result["3xx"] : 0);
  console.log(
    `${name.padEnd(8)} ${Math.round(result.requests.average)} req/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  ` +
      `(${result.requests.total} requests, ${connections} connections, ${seconds} s, errors ${result.errors}, unexpected status ${non2xx})`,
  );
}

const opens = recipients.map(
  (recipient) => `/o/${signToken(keys, { kind: "open", messageId: "BENCH1", recipient })}.gif`,
);
const clicks = recipients.map(
  (recipient, i) =>
    `/c/${signToken(keys, { kind: "click", messageId: "BENCH1", recipient, linkIndex: i % 5, url: `https://shop.example/p/${i % 5}` })}`,
);
console.log(`node ${process.version}, ${redisUrl ? "Redis" : "embedded (SQLite)"} store, loopback`);
await run("pixel", opens);
await run("redirect", clicks);
const stats = await store.getMessageStats("BENCH1");
console.log(`recorded: ${stats?.opens} opens, ${stats?.clicks} clicks`);
server.close();
await store.close();
await rm(dir, { recursive: true, force: true });
