/**
 * Runs the whole Store contract against a three-node Redis Cluster through
 * the cluster client (`cluster: true`): slots split three ways, so keys of
 * different accounts and messages live on different servers and the client
 * follows MOVED redirections. A cluster node refuses any script, MULTI or
 * multi-key command whose keys span slots (CROSSSLOT), so this also proves
 * the hash tags keep every atomic change in one slot.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { type RedisServer, startRedisServer } from "../support/redis-server.js";
import { describeStoreContract } from "./contract.js";

const NODES = 3;
const servers: RedisServer[] = [];
let dir = "";
const urls: string[] = [];
let url = "";

async function startCluster(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-cluster-"));
  for (let node = 0; node < NODES; node++) {
    const server = await startRedisServer({
      args: ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${node}.conf`)],
    });
    servers.push(server);
    urls.push(server.url);
  }
  const ports = servers.map((server) => server.port);
  url = urls[0] as string;
  const admins = await Promise.all(urls.map(connectWhenUp));
  try {
    // Slots split in three, then the nodes introduced to each other.
    const per = Math.ceil(16384 / NODES);
    await Promise.all(
      admins.map((admin, i) =>
        admin.call("CLUSTER", "ADDSLOTSRANGE", String(i * per), String(Math.min(16383, (i + 1) * per - 1))),
      ),
    );
    for (const port of ports.slice(1)) await admins[0]?.call("CLUSTER", "MEET", "127.0.0.1", String(port));
    for (let i = 0; i < 400; i++) {
      const infos = await Promise.all(admins.map((admin) => admin.call("CLUSTER", "INFO")));
      if (infos.every((info) => String(info).includes("cluster_state:ok"))) return;
      await sleep(50);
    }
    throw new Error("the cluster never reached cluster_state:ok");
  } finally {
    for (const admin of admins) admin.disconnect();
  }
}

async function connectWhenUp(at: string): Promise<Redis> {
  for (let attempt = 0; ; attempt++) {
    const client = new Redis(at, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => {});
    try {
      await client.connect();
      return client;
    } catch (error) {
      client.disconnect();
      if (attempt > 100) throw error;
      await sleep(50);
    }
  }
}

beforeAll(startCluster, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

let counter = 0;
function openAt(prefix: string) {
  return openRedisStore({ url, prefix, cluster: true });
}

describeStoreContract("redis cluster (three nodes, cluster client)", () => openAt(`c${++counter}:`), {
  backingState: async () => {
    const prefix = `c${++counter}:`;
    return () => openAt(prefix);
  },
  concurrentPeers: true,
});

it("the cluster refuses a cross-slot change and spreads the store's keys over its nodes, so the run above means something", async () => {
  const client = await connectWhenUp(url);
  try {
    // Two keys in the same slot on the node this client talks to would pass; these are in different slots.
    await expect(client.eval("return 1", 2, "{a}:x", "{b}:y")).rejects.toThrow(/CROSSSLOT|MOVED/);
    await expect(client.mset("{a}:x", "1", "{b}:y", "2")).rejects.toThrow(/CROSSSLOT|MOVED/);
  } finally {
    client.disconnect();
  }
  // After the contract suite, every node holds some of its keys.
  const counts = await Promise.all(
    urls.map(async (at) => {
      const node = await connectWhenUp(at);
      try {
        return Number(await node.dbsize());
      } finally {
        node.disconnect();
      }
    }),
  );
  expect(
    counts.every((n) => n > 0),
    `keys per node: ${counts.join(", ")}`,
  ).toBe(true);
});
