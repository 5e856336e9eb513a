/**
 * Runs the whole Store contract against a one-node Redis Cluster (all 16384
 * slots on one server). A cluster node refuses any script, MULTI or
 * multi-key command whose keys span slots (CROSSSLOT), so this proves the
 * hash tags keep every atomic change in one slot.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeStoreContract } from "../../../test/store/contract.js";
import { freePort } from "../../../test/support/free-port.js";
import { requireRedisServerBinary } from "../../../test/support/redis-server.js";
import { openRedisStore } from "./index.js";

let server: ChildProcess | undefined;
let dir = "";
let url = "";

async function startClusterNode(): Promise<void> {
  requireRedisServerBinary();
  dir = await mkdtemp(join(tmpdir(), "relayfleet-cluster-"));
  const port = await freePort();
  server = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      join(dir, "nodes.conf"),
    ],
    { stdio: "ignore" },
  );
  url = `redis://127.0.0.1:${port}`;
  const admin = await connectWhenUp(url);
  try {
    await admin.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
    for (let i = 0; i < 200; i++) {
      const info = String(await admin.call("CLUSTER", "INFO"));
      if (info.includes("cluster_state:ok")) return;
      await sleep(50);
    }
    throw new Error("the one-node cluster never reached cluster_state:ok");
  } finally {
    admin.disconnect();
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

beforeAll(startClusterNode, 30_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = once(server, "exit");
    server.kill("SIGTERM");
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

let counter = 0;
function openAt(prefix: string) {
  return openRedisStore({ url, prefix });
}

describeStoreContract("redis (one-node cluster: no cross-slot change)", () => openAt(`c${++counter}:`), {
  backingState: async () => {
    const prefix = `c${++counter}:`;
    return () => openAt(prefix);
  },
  concurrentPeers: true,
});

it("the one-node cluster refuses a cross-slot change, so the run above can fail", async () => {
  const client = await connectWhenUp(url);
  try {
    await expect(client.eval("return 1", 2, "{a}:x", "{b}:y")).rejects.toThrow(/CROSSSLOT/);
    await expect(client.mset("{a}:x", "1", "{b}:y", "2")).rejects.toThrow(/CROSSSLOT/);
  } finally {
    client.disconnect();
  }
});
