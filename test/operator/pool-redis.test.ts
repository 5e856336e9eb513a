/**
 * A SenderRoute goes to the Redis of the pools that use it, and to no other:
 * two private redis-servers, one per pool; the route's table appears only in
 * its pool's, follows the pool when it moves, and blocked reports are read
 * from the pool's Redis.
 */
import { createConnection } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { SenderRoute } from "../../operator/api/senderroute.js";
import type { Operator } from "../../operator/operator.js";
import { silentLogger } from "../../relay/log/logger.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import type { Store } from "../../relay/store/types.js";
import { freePort } from "../support/free-port.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { get, type Harness, poolUsingRoute, startHarness, waitFor } from "./harness.js";

let h: Harness;
let operator: Operator;
let redisA: RedisServer;
let redisB: RedisServer;
/** What the relays of each pool read (the operator writes under the harness's prefix). */
let storeA: Store;
let storeB: Store;

const route = (name: string) => `
apiVersion: relayfleet.io/v1alpha1
kind: SenderRoute
metadata: { name: ${name}, namespace: mail }
spec:
  senders:
    - { name: out1, host: out1.example.net }
    - { name: out2, host: out2.example.net }
  domains:
    - { match: ["example.org"], senders: [out1, out2] }
`;

/** Connections a redis-server has now (CLIENT LIST, one line each, this probe's included). */
function clientCount(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    socket.once("connect", () => socket.write("CLIENT LIST\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (header && reply.length >= header[0].length + Number(header[1])) {
        socket.destroy();
        resolve(
          reply
            .slice(header[0].length)
            .split("\n")
            .filter((line) => line.startsWith("id=")).length,
        );
      }
    });
    socket.once("error", reject);
  });
}

const routeStatus = async (name: string) =>
  (await get<SenderRoute>(h, "relayfleet.io/v1alpha1", "senderroutes", name))?.status;

beforeAll(async () => {
  [redisA, redisB] = await Promise.all([startRedisServer(), startRedisServer()]);
  h = await startHarness({ redisUrl: inject("redisUrl") });
  storeA = await openRedisStore({ url: redisA.url, prefix: h.prefix, logger: silentLogger() });
  storeB = await openRedisStore({ url: redisB.url, prefix: h.prefix, logger: silentLogger() });
  await h.applyYaml(poolUsingRoute("alpha", redisA.url, "pool-a"));
  await h.applyYaml(poolUsingRoute("beta", redisB.url, "pool-b"));
  operator = await h.startOperator({ sweepIntervalMs: 300 });
  await waitFor(() => operator.isLeader);
});

afterAll(async () => {
  await h?.stop();
  await storeA?.close();
  await storeB?.close();
  await redisA?.stop();
  await redisB?.stop();
});

describe("SenderRoutes and the pools' Redis", () => {
  it("publishes a route to the Redis of the pool that uses it, and not to another pool's", async () => {
    await h.applyYaml(route("alpha"));
    await h.applyYaml(route("beta"));
    await expect.poll(() => storeA.getRouteTable("mail/alpha"), { timeout: 5_000 }).toBeDefined();
    await expect.poll(() => storeB.getRouteTable("mail/beta"), { timeout: 5_000 }).toBeDefined();
    expect(await storeB.getRouteTable("mail/alpha")).toBeUndefined();
    expect(await storeA.getRouteTable("mail/beta")).toBeUndefined();
    // Nor to the operator's own (the harness's shared Redis): no pool of this route reads it.
    expect(await h.store.getRouteTable("mail/alpha")).toBeUndefined();
    await expect
      .poll(async () => (await routeStatus("alpha"))?.conditions?.find((c) => c.type === "Ready"), {
        timeout: 3_000,
      })
      .toMatchObject({
        status: "True",
        reason: "Published",
        message: "published as route table mail/alpha to the Redis of pool(s) pool-a",
      });
    // The URL may hold a password: status names pools, never the Redis URL.
    expect(JSON.stringify(await routeStatus("alpha"))).not.toContain(redisA.url);
  });

  it("reads blocked reports from the pool's Redis and publishes the failover there", async () => {
    const since = Date.now();
    await storeA.reportBlocked({
      sender: "out1",
      domain: "example.org",
      since,
      until: since + 3_600_000,
      reason: "550 blocked using a list",
    });
    await expect
      .poll(async () => (await storeA.getRouteTable("mail/alpha"))?.domains[0], { timeout: 5_000 })
      .toEqual({ match: ["example.org"], senders: ["out2"] });
    await expect
      .poll(async () => (await routeStatus("alpha"))?.blocked?.map((b) => b.sender), { timeout: 3_000 })
      .toEqual(["out1"]);
    // pool-b's route knows nothing of pool-a's block.
    expect((await storeB.getRouteTable("mail/beta"))?.domains[0]?.senders).toEqual(["out1", "out2"]);
    await storeA.clearBlocked("out1", "example.org");
  });

  it("moves the table when the pool moves to another Redis, and says when no pool uses a route", async () => {
    await h.applyYaml(poolUsingRoute("alpha", redisB.url, "pool-a"));
    await expect.poll(() => storeB.getRouteTable("mail/alpha"), { timeout: 5_000 }).toBeDefined();
    await expect.poll(() => storeA.getRouteTable("mail/alpha"), { timeout: 5_000 }).toBeUndefined();
    // No route is published to redis A any more: the operator closes its connections there
    // (what is left: this test's own Store, two connections, and the probe).
    await expect.poll(() => clientCount(redisA.port), { timeout: 5_000 }).toBe(3);

    await h.client.delete(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
      "pool-b",
    );
    await expect
      .poll(async () => (await routeStatus("beta"))?.conditions?.find((c) => c.type === "Ready"), {
        timeout: 5_000,
      })
      .toMatchObject({ status: "False", reason: "NoPool" });
    // Its table leaves the Redis no pool of the route reads any more.
    await expect.poll(() => storeB.getRouteTable("mail/beta"), { timeout: 5_000 }).toBeUndefined();
  });

  it("names the pool and Secret when a pool's Redis URL cannot be read", async () => {
    await h.applyYaml(`
apiVersion: relayfleet.io/v1alpha1
kind: RelayPool
metadata: { name: pool-c, namespace: mail }
spec:
  replicas: 0
  senderRoute: alpha
  redis: { secretRef: { name: redis-c, key: url } }
`);
    await expect
      .poll(async () => (await routeStatus("alpha"))?.conditions?.find((c) => c.type === "Ready"), {
        timeout: 5_000,
      })
      .toMatchObject({
        status: "False",
        reason: "PoolRedisUnknown",
        message:
          "cannot tell where to publish for pool pool-c: secret redis-c not found; published for pool-a",
      });
    // pool-a's Redis still gets the route.
    expect(await storeB.getRouteTable("mail/alpha")).toBeDefined();
    await h.client.delete(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "relaypools", namespace: "mail" },
      "pool-c",
    );
  });

  it("says which pool's Redis cannot be reached, and still publishes to the others", async () => {
    const closed = await freePort();
    await h.applyYaml(poolUsingRoute("alpha", `redis://127.0.0.1:${closed}`, "pool-d"));
    await expect
      .poll(async () => (await routeStatus("alpha"))?.conditions?.find((c) => c.type === "Ready"), {
        timeout: 10_000,
      })
      .toMatchObject({
        status: "False",
        reason: "RedisUnavailable",
        message: expect.stringMatching(
          new RegExp(
            `^cannot publish for pool\\(s\\) pool-d: the Redis at 127\\.0\\.0\\.1:${closed} is unavailable: .*; published for pool-a$`,
          ),
        ),
      });
    const table = await storeB.getRouteTable("mail/alpha");
    await h.applyYaml(route("alpha").replace("out2.example.net", "out2b.example.net"));
    await expect
      .poll(async () => (await storeB.getRouteTable("mail/alpha"))?.senders[1]?.host, { timeout: 5_000 })
      .toBe("out2b.example.net");
    expect(table).toBeDefined();
  });
});
