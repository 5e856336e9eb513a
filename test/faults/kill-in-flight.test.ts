/**
 * kill -9 with deliveries in flight, on a real relay process: the next hop
 * is slow to answer (300 ms after each message's data), so when the relay is
 * killed, copies are mid-transaction. The restarted relay delivers the rest;
 * a message is delivered twice only when the kill fell between the sink
 * taking it and the relay hearing so (counted, and bounded by what was in
 * flight).
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it, onTestFinished } from "vitest";
import { startRelayProcess } from "../support/relay-process.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { tempDir } from "../support/temp-dir.js";
import { outcome, relayConfig, SLOW_START, sendLoad } from "./harness.js";

const MESSAGES = 400;

describe("kill -9 with deliveries in flight", () => {
  it("delivers every acknowledged message after the restart, duplicates only from the copies in flight", async () => {
    const dir = await tempDir("relayfleet-kill-in-flight-");
    const sink = await startSmtpPeer({ answerDelayMs: 300 });
    onTestFinished(() => sink.stop());
    const config = relayConfig(sink.port);
    const relay = await startRelayProcess(dir, config, SLOW_START);
    onTestFinished(() => relay.kill9());

    const load = await sendLoad(relay.smtpPort, MESSAGES, { prefix: "kf", connections: 10 });
    expect(load.acked.size).toBe(MESSAGES);
    await expect
      .poll(() => sink.received.length, { timeout: 60_000, interval: 20 })
      .toBeGreaterThanOrEqual(40);
    // Connections the relay has open to the sink right now: the copies in flight, at most.
    const openAtKill = await openConnections(sink);
    await relay.kill9();
    const deliveredAtKill = sink.received.length;
    expect(deliveredAtKill).toBeLessThan(MESSAGES);

    const restarted = await startRelayProcess(dir, config, SLOW_START);
    onTestFinished(async () => {
      await restarted.stop();
    });
    await expect
      .poll(() => outcome(load.acked, sink.received, "kf").lost.length, { timeout: 90_000, interval: 500 })
      .toBe(0);
    const result = outcome(load.acked, sink.received, "kf");
    expect(result.delivered).toBe(MESSAGES);
    expect(result.duplicates).toBeLessThanOrEqual(Math.max(openAtKill, 1) * 2);
    console.log(
      `kill -9 in flight: acknowledged ${load.acked.size}, delivered before the kill ${deliveredAtKill}, ` +
        `sink connections open at the kill ${openAtKill}, delivered in all ${result.delivered}, duplicates ${result.duplicates}`,
    );
  }, 150_000);
});

/** TCP connections established to the sink's port right now (from /proc/net/tcp{,6}). */
async function openConnections(sink: { port: number }): Promise<number> {
  // /proc/net/tcp lists sockets by hex port; ESTABLISHED is state 01. Count those whose local port is the sink's.
  const hexPort = sink.port.toString(16).toUpperCase().padStart(4, "0");
  const table = `${await readFile("/proc/net/tcp", "utf8")}${await readFile("/proc/net/tcp6", "utf8").catch(() => "")}`;
  return table
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "01").length;
}
