/** The informer wrapper keeps watching through 410 Gone, dropped watches, silence and deletions it missed. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ResilientInformer } from "../../operator/kube/informer.js";
import { silentLogger } from "../../relay/log/logger.js";
import { type Harness, startHarness } from "./harness.js";

let h: Harness;
const configMaps = { apiVersion: "v1", plural: "configmaps", namespace: "mail" };

beforeAll(async () => {
  h = await startHarness({ redisUrl: inject("redisUrl") });
});

afterAll(async () => {
  await h?.stop();
});

function informer(keys: string[], options: { watchdogMs?: number; relistMs?: number } = {}) {
  return new ResilientInformer(h.kubeConfig, h.client, {
    ref: configMaps,
    keysFor: (o) => [`${o.metadata?.namespace}/${o.metadata?.name}`],
    enqueue: (key) => keys.push(key),
    logger: silentLogger(),
    backoff: { baseMs: 50, maxMs: 200 },
    ...options,
  });
}

describe("ResilientInformer", () => {
  it("sees changes after 410 Gone and after the server drops every watch", async () => {
    const keys: string[] = [];
    const watch = informer(keys);
    await watch.start();
    try {
      await h.client.create(configMaps, { metadata: { name: "one" } });
      await expect.poll(() => keys).toContain("mail/one");
      h.server.compact();
      h.server.closeWatches();
      await h.client.create(configMaps, { metadata: { name: "two" } });
      await expect.poll(() => keys, { timeout: 3_000 }).toContain("mail/two");
      h.server.closeWatches();
      await h.client.delete(configMaps, "one");
      await expect.poll(() => watch.list().map((o) => o.metadata?.name), { timeout: 3_000 }).toEqual(["two"]);
    } finally {
      await watch.stop();
    }
  });

  it("restarts a silent watch (watchdog) and keeps its cache right", async () => {
    const keys: string[] = [];
    const watch = informer(keys, { watchdogMs: 300 });
    await watch.start();
    try {
      await expect.poll(() => watch.restarts, { timeout: 3_000 }).toBeGreaterThanOrEqual(2);
      expect(watch.list().map((o) => o.metadata?.name)).toEqual(["two"]);
    } finally {
      await watch.stop();
    }
  });

  it("relists on schedule and enqueues every key again (a resync)", async () => {
    const keys: string[] = [];
    const watch = informer(keys, { relistMs: 300 });
    await watch.start();
    try {
      const first = keys.filter((k) => k === "mail/two").length;
      await expect
        .poll(() => keys.filter((k) => k === "mail/two").length, { timeout: 3_000 })
        .toBeGreaterThan(first + 1);
    } finally {
      await watch.stop();
    }
  });
});
