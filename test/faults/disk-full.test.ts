/**
 * Disk full on a real relay process: its data directory (spool, store,
 * progress files, notices) is a small tmpfs, filled by a load faster than
 * the slow next hop drains it, while some recipients bounce (so notices must
 * be written too). Intake answers 452/451 and acknowledges nothing it could
 * not keep; when space returns (the tmpfs grows) the relay carries on by
 * itself, and every acknowledged message is delivered or bounced with a notice.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { startRelayProcess } from "../support/relay-process.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { outcome, relayConfig, SLOW_START, sendLoad } from "./harness.js";

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: "utf8" });
  return { ok: result.status === 0, output: `${result.stderr ?? ""}${result.error?.message ?? ""}`.trim() };
}

describe("disk full", () => {
  it("answers 452/451 while the disk is full, loses nothing acknowledged, and recovers when space returns", async () => {
    const root = await mkdtemp(join(tmpdir(), "relayfleet-disk-full-"));
    const disk = join(root, "disk");
    await mkdir(disk);
    const mounted = run("mount", ["-t", "tmpfs", "-o", "size=4M,mode=0755", "tmpfs", disk]);
    if (!mounted.ok)
      throw new Error(
        `cannot mount a 4 MB tmpfs at ${disk} (this test needs root and mount(8)): ${mounted.output}`,
      );
    let relay: Awaited<ReturnType<typeof startRelayProcess>> | undefined;
    onTestFinished(async () => {
      await relay?.kill9();
      run("umount", ["-l", disk]);
      await rm(root, { recursive: true, force: true });
    });
    const sink = await startSmtpPeer({ answerDelayMs: 500 });
    onTestFinished(() => sink.stop());
    const bouncing = (i: number) => i % 10 === 0;
    for (let i = 0; i < 500; i++) if (bouncing(i)) sink.forRecipient(`r${i}@isp.test`, "reject");

    // No free-space margin: the writes themselves must meet ENOSPC (the margin only refuses sooner).
    relay = await startRelayProcess(
      root,
      relayConfig(sink.port, { dataDir: disk, intake: { minFreeBytes: 0 } }),
      SLOW_START,
    );
    // About 15 MB offered to a 4 MB disk, faster than the sink takes it.
    const load = await sendLoad(relay.smtpPort, 500, { prefix: "df", connections: 12, bodyBytes: 30_000 });
    const refusals = [...load.refusedBy.values()].reduce((a, b) => a + b, 0);
    expect(load.acked.size, "the disk took almost nothing").toBeGreaterThan(40);
    expect(refusals, "the disk never filled").toBeGreaterThan(0);
    for (const answer of load.answers.filter((a) => !a.reply.startsWith("250")))
      expect(answer.reply, answer.tag).toMatch(/^45[12] 4\.3\.[01] /);
    expect(load.unanswered).toBe(0);
    expect(relay.child.exitCode, relay.output()).toBeNull();

    // Space returns.
    const grown = run("mount", ["-o", "remount,size=256M", disk]);
    if (!grown.ok) throw new Error(`cannot grow the tmpfs at ${disk}: ${grown.output}`);
    const grownAt = Date.now();
    await expect
      .poll(() => outcome(load.acked, sink.received, "df").lost.length, { timeout: 120_000, interval: 500 })
      .toBe(0);
    const recoveredMs = Date.now() - grownAt;
    // And intake takes mail again.
    const after = await sendLoad(relay.smtpPort, 20, { prefix: "da", connections: 4 });
    expect(after.acked.size, JSON.stringify(after.answers.slice(0, 3))).toBe(20);
    await expect
      .poll(() => outcome(after.acked, sink.received, "da").lost.length, { timeout: 60_000, interval: 500 })
      .toBe(0);
    const result = outcome(load.acked, sink.received, "df");
    const bounced = [...load.acked.keys()].filter((tag) => bouncing(Number(tag.slice(3)))).length;
    expect(result.duplicates).toBeLessThanOrEqual(load.acked.size / 10);
    // What the relay logged about writes that met the full disk, delivery side included.
    const fullWrites = relay
      .output()
      .split("\n")
      .filter((line) => /ENOSPC|SQLITE_FULL|no space|disk is full/i.test(line));
    console.log(
      `disk full: ${fullWrites.length} log lines about full-disk writes, e.g. ${fullWrites
        .map((line) => /"msg":"([^"]*)"/.exec(line)?.[1])
        .filter((msg, i, all) => msg && all.indexOf(msg) === i)
        .slice(0, 6)
        .join(" | ")}`,
    );
    console.log(
      `disk full: sent 500, acknowledged ${load.acked.size}, refused ${JSON.stringify(Object.fromEntries(load.refusedBy))}, ` +
        `delivered ${result.delivered}, bounced with a notice ${bounced}, duplicates ${result.duplicates}, lost ${result.lost.length}; all accounted for ${Math.round(recoveredMs / 1000)} s after space returned; ` +
        `after space returned: acknowledged ${after.acked.size} of 20`,
    );
  }, 240_000);
});
