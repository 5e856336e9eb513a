/**
 * kill -9 during delivery, then a restart on the same spool and store: every
 * accepted recipient ends delivered; a recipient is sent twice only when the
 * kill fell between the remote 250 and our progress write (counted, bounded).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { silentLogger } from "../../relay/log/logger.js";
import { routeTableSchema } from "../../relay/routes/schema.js";
import { Spool } from "../../relay/spool/spool.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import { peerRoute, spoolMessage, startRig } from "../delivery/harness.js";
import { putAccount } from "../support/intake.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";

const worker = new URL("./fixtures/deliver-worker.ts", import.meta.url).pathname;

describe("restart after kill -9", () => {
  it("resumes without losing a recipient, re-sending at most those caught between 250 and the progress write", async () => {
    const isp = await startSmtpPeer();
    onTestFinished(() => isp.stop());
    const dir = await tempDir("relayfleet-restart-");
    const spoolDir = join(dir, "spool");
    const storeDir = join(dir, "store");
    const messages = 200;
    const perMessage = 3;

    const store = await openLocalStore({ dir: storeDir });
    await putAccount(store, { name: "acme", allowedFrom: ["*"] });
    await store.putRouteTable("default", routeTableSchema.parse(peerRoute(isp.port, [{ name: "out1" }])));
    const { spool } = await Spool.open({ dir: spoolDir, logger: silentLogger() });
    const entries = await Promise.all(
      Array.from({ length: messages }, (_, i) =>
        spoolMessage(spool, store, {
          to: Array.from({ length: perMessage }, (_, j) => `m${i}-r${j}@isp.test`),
        }),
      ),
    );
    await store.close();

    const child = spawn(process.execPath, ["--import", "tsx", worker, spoolDir, storeDir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    const total = messages * perMessage;
    await expect
      .poll(() => isp.received.length, { timeout: 20_000, interval: 1 })
      .toBeGreaterThanOrEqual(total / 4);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const atKill = isp.received.length;
    expect(atKill).toBeLessThan(total);

    const rig = await startRig({ spoolDir, storeDir, accounts: [], routes: {} });
    await rig.scheduler.idle(20_000);
    const counts = new Map<string, number>();
    for (const m of isp.received) counts.set(m.to[0] as string, (counts.get(m.to[0] as string) ?? 0) + 1);
    const expected = entries.flatMap((e) => e.envelope.to);
    const missing = expected.filter((address) => !counts.has(address));
    const duplicates = [...counts.values()].reduce((sum, n) => sum + (n - 1), 0);
    console.info(
      `kill -9 after ${atKill} of ${total} copies: ${duplicates} sent twice, ${missing.length} missing`,
    );
    expect(missing).toEqual([]);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
    // At most what was in flight (the sender's 20 connections) plus progress writes under way at the kill.
    expect(duplicates).toBeLessThanOrEqual(40);
    const records = await Promise.all(entries.map((e) => rig.store.getMessage(e.id)));
    expect(
      records.flatMap((r) => r?.recipients.map((x) => x.status) ?? []).every((s) => s === "delivered"),
    ).toBe(true);
  });
});
