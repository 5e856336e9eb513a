/**
 * The durability promise, checked on the system calls of a real relay
 * process under load (strace -f): for every message answered 250, its spool
 * file's fsync and then a fsync of the queue directory begun after the
 * file's rename to ID.msg all return before the write of "250 ... queued as
 * ID" on the client's socket (relay/spool/spool.ts, docs/intake.md).
 */
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { freePort } from "../support/free-port.js";
import { alive, descendants } from "../support/processes.js";
import { startRelayProcess } from "../support/relay-process.js";
import { tempDir } from "../support/temp-dir.js";
import { relayConfig, sendLoad } from "./harness.js";
import { durabilitySteps, parseStrace } from "./strace-log.js";

describe("durability, traced", () => {
  it("fsyncs each accepted message's file and its directory before writing its 250", async () => {
    const probe = spawnSync("strace", ["-V"], { stdio: "ignore" });
    if (probe.error || probe.status !== 0)
      throw new Error("strace is not on PATH; install it with: apt-get install -y strace");
    const dir = await tempDir("relayfleet-trace-");
    const traceFile = join(dir, "strace.log");
    // Nobody listens on the next hop: copies are deferred, and the trace stays about intake.
    const relay = await startRelayProcess(dir, relayConfig(await freePort()), {
      wrapper: [
        "strace",
        "-f",
        "-tt",
        "-s",
        "256",
        "-e",
        "trace=openat,fsync,fdatasync,write,writev,rename,renameat,renameat2",
        "-e",
        "signal=none",
        "-o",
        traceFile,
      ],
      // libuv may run file system calls through io_uring, where strace cannot see them.
      env: { UV_USE_IO_URING: "0" },
      startTimeoutMs: 90_000,
    });
    const stopTraced = async () => {
      // Killing strace would detach the relay and leave it running: end the relay, strace follows.
      for (const pid of descendants(relay.child.pid as number)) if (alive(pid)) process.kill(pid, "SIGKILL");
      if (relay.child.exitCode === null && relay.child.signalCode === null) await once(relay.child, "exit");
    };
    onTestFinished(stopTraced);

    const load = await sendLoad(relay.smtpPort, 120, { prefix: "tr", connections: 6 });
    expect(load.acked.size).toBe(120);
    await stopTraced();

    const queueDir = join(dir, "data", "spool", "queue");
    const ids = [...load.acked.values()];
    const steps = durabilitySteps(parseStrace(await readFile(traceFile, "utf8")), ids, queueDir);
    let checked = 0;
    for (const id of ids) {
      const step = steps.get(id);
      expect(step, id).toBeDefined();
      const { fileSynced, renamed, dirSyncStarted, dirSynced, replied } = step ?? {};
      expect([fileSynced, renamed, dirSyncStarted, dirSynced, replied], `steps of ${id}`).not.toContain(
        undefined,
      );
      expect(fileSynced as number, `${id}: file fsync before its rename`).toBeLessThan(renamed as number);
      expect(renamed as number, `${id}: rename before the directory fsync`).toBeLessThan(
        dirSyncStarted as number,
      );
      expect(dirSynced as number, `${id}: directory fsync before the 250`).toBeLessThan(replied as number);
      checked++;
    }
    const batches = new Set(ids.map((id) => steps.get(id)?.dirSynced)).size;
    console.log(
      `durability trace: acknowledged ${load.acked.size}, checked ${checked} (file fsync < rename < directory fsync < 250), ` +
        `directory fsyncs shared by them ${batches}`,
    );
  }, 180_000);
});
