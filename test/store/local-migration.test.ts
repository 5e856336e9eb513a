/**
 * Upgrading a local store file written by an older relayfleet: version 1
 * (before webhooks) opens at the current version with its data kept, and
 * webhooks and their outbox usable.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openLocalStore, STORE_FILE } from "../../relay/store/local/index.js";
import { MIGRATIONS } from "../../relay/store/local/migrations.js";
import { tempDir } from "../support/temp-dir.js";
import { account } from "./fixtures.js";

describe("local store migrations", () => {
  it("upgrades a version 1 file to the current version, keeping its accounts and adding webhooks", async () => {
    const dir = await tempDir();
    const acme = account("acme");
    const old = new Database(join(dir, STORE_FILE));
    old.exec(MIGRATIONS[0] ?? "");
    old.pragma("user_version = 1");
    old
      .prepare("INSERT INTO accounts (name, created_at, payload) VALUES (?, ?, ?)")
      .run(acme.name, acme.createdAt, JSON.stringify(acme));
    old.close();

    const store = await openLocalStore({ dir });
    try {
      expect(await store.getAccount("acme")).toEqual(acme);
      const hook = {
        id: "wh_1",
        account: "acme",
        url: "https://hooks.example.org/in",
        events: ["open" as const],
        secret: "whsec_0123456789abcdef",
        createdAt: Date.now(),
        active: true,
      };
      await store.putWebhook(hook);
      expect(await store.listWebhooks("acme")).toEqual([hook]);
      await store.enqueueWebhookDeliveries(
        "acme",
        [{ id: "d1", webhookId: "wh_1", eventType: "open", body: "{}", createdAt: Date.now() }],
        10,
      );
      expect(await store.countWebhookDeliveries("acme")).toBe(1);
    } finally {
      await store.close();
    }
    const upgraded = new Database(join(dir, STORE_FILE), { readonly: true });
    try {
      expect(upgraded.pragma("user_version", { simple: true })).toBe(3);
      expect(MIGRATIONS).toHaveLength(3);
    } finally {
      upgraded.close();
    }
  });
});
