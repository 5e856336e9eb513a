/**
 * The outbound connections themselves: the envelope pipelined to a next hop
 * that offers PIPELINING, and one connection shared by every account whose
 * sender connects the same way (relay/delivery/transport.ts).
 */
import { once } from "node:events";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { Readable } from "node:stream";
import { describe, expect, it, onTestFinished } from "vitest";
import { TransportPool } from "../../relay/delivery/transport.js";
import { type Sender, senderSchema } from "../../relay/routes/schema.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { peerRoute, startRig } from "./harness.js";

interface RecordingPeer {
  port: number;
  /** Every read of the client's commands (not of message data), as it arrived. */
  commandReads: string[];
  connections: number;
}

/**
 * A bare SMTP server that answers each command line in order and records how
 * the commands arrived, read by read: a pipelining client's envelope comes in
 * one read, a waiting client's in one read per command.
 */
async function recordingPeer(options: { pipelining: boolean }): Promise<RecordingPeer> {
  const peer: RecordingPeer = { port: 0, commandReads: [], connections: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    peer.connections++;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    let pending = "";
    let inData = false;
    socket.write("220 peer.test ESMTP\r\n");
    socket.on("data", (chunk: Buffer) => {
      pending += chunk.toString("latin1");
      if (!inData) peer.commandReads.push(chunk.toString("latin1"));
      const replies: string[] = [];
      for (;;) {
        if (inData) {
          const end = pending.indexOf("\r\n.\r\n");
          if (end < 0) break;
          pending = pending.slice(end + 5);
          inData = false;
          replies.push("250 2.0.0 queued");
          continue;
        }
        const eol = pending.indexOf("\r\n");
        if (eol < 0) break;
        const command = pending.slice(0, eol).toUpperCase();
        pending = pending.slice(eol + 2);
        if (command.startsWith("EHLO"))
          replies.push(options.pipelining ? "250-peer.test\r\n250 PIPELINING" : "250 peer.test");
        else if (command === "DATA") {
          inData = true;
          replies.push("354 go ahead");
        } else if (command === "QUIT") replies.push("221 bye");
        else replies.push("250 ok");
      }
      if (replies.length) socket.write(`${replies.join("\r\n")}\r\n`);
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  peer.port = (server.address() as AddressInfo).port;
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return peer;
}

function plainSender(port: number, name = "out"): Sender {
  return senderSchema.parse({ name, host: "127.0.0.1", port, tls: "none" });
}

async function sendTwo(pool: TransportPool, sender: Sender): Promise<void> {
  for (const n of [1, 2]) {
    const { answer } = await pool.send({
      sender,
      host: "127.0.0.1",
      port: sender.port,
      from: "app@acme.test",
      to: `user${n}@isp.test`,
      id: `m${n}`,
      message: () => Readable.from([Buffer.from(`Subject: ${n}\r\n\r\nHello.\r\n`)]),
    });
    expect(answer).toMatchObject({ responseCode: 250, stage: "data" });
  }
}

describe("outbound transport", () => {
  it("sends MAIL FROM, RCPT TO and DATA in one write when the next hop offers PIPELINING", async () => {
    const peer = await recordingPeer({ pipelining: true });
    const pool = new TransportPool({ hostname: "relay.test" });
    onTestFinished(() => pool.close());
    await sendTwo(pool, plainSender(peer.port));
    const envelopes = peer.commandReads.filter((read) => read.includes("MAIL FROM"));
    expect(envelopes).toEqual([
      "MAIL FROM:<app@acme.test>\r\nRCPT TO:<user1@isp.test>\r\nDATA\r\n",
      "MAIL FROM:<app@acme.test>\r\nRCPT TO:<user2@isp.test>\r\nDATA\r\n",
    ]);
    expect(peer.connections).toBe(1);
  });

  it("waits for each reply when the next hop does not offer PIPELINING", async () => {
    const peer = await recordingPeer({ pipelining: false });
    const pool = new TransportPool({ hostname: "relay.test" });
    onTestFinished(() => pool.close());
    await sendTwo(pool, plainSender(peer.port));
    const afterEhlo = peer.commandReads.filter((read) => !read.startsWith("EHLO"));
    expect(afterEhlo).toEqual([
      "MAIL FROM:<app@acme.test>\r\n",
      "RCPT TO:<user1@isp.test>\r\n",
      "DATA\r\n",
      "MAIL FROM:<app@acme.test>\r\n",
      "RCPT TO:<user2@isp.test>\r\n",
      "DATA\r\n",
    ]);
  });

  it("accounts whose senders connect the same way share one connection; another source address gets its own", async () => {
    const isp = await startSmtpPeer();
    onTestFinished(() => isp.stop());
    const rig = await startRig({
      routes: {
        shop: peerRoute(isp.port, [{ name: "shop-out" }]),
        news: peerRoute(isp.port, [{ name: "news-out", weight: 5 }]),
        apart: peerRoute(isp.port, [{ name: "apart-out", localAddress: "127.0.0.2" }]),
      },
      accounts: [
        { name: "shop", allowedFrom: ["*"], route: "shop" },
        { name: "news", allowedFrom: ["*"], route: "news" },
        { name: "apart", allowedFrom: ["*"], route: "apart" },
      ],
    });
    // One at a time, so each finds the connection of the one before idle.
    for (const [n, account] of ["shop", "news", "shop", "news", "apart", "apart"].entries()) {
      await rig.send({ account, to: [`user${n}@isp.test`] });
      await isp.waitForMessages(n + 1);
      await rig.scheduler.idle();
    }
    expect(isp.received.map((m) => m.clientIp)).toEqual([
      "127.0.0.1",
      "127.0.0.1",
      "127.0.0.1",
      "127.0.0.1",
      "127.0.0.2",
      "127.0.0.2",
    ]);
    expect(Object.fromEntries(isp.connections)).toEqual({ "127.0.0.1": 1, "127.0.0.2": 1 });
  });

  it("a shared connection pool has room for each sender's maxConnections at once", async () => {
    const isp = await startSmtpPeer({ answerDelayMs: 300 });
    onTestFinished(() => isp.stop());
    const sender = (name: string) => ({ ...peerRoute(isp.port, [{ name }]).senders[0], maxConnections: 1 });
    const rig = await startRig({
      routes: {
        shop: { policy: "failover", senders: [sender("shop-out")] },
        news: { policy: "failover", senders: [sender("news-out")] },
      },
      accounts: [
        { name: "shop", allowedFrom: ["*"], route: "shop" },
        { name: "news", allowedFrom: ["*"], route: "news" },
      ],
    });
    await rig.send({ account: "shop", to: ["a@isp.test"] });
    await rig.send({ account: "news", to: ["b@isp.test"] });
    const received = await isp.waitForMessages(2);
    await rig.scheduler.idle();
    // Both were in flight together, each on a connection of its own.
    expect(Object.fromEntries(isp.connections)).toEqual({ "127.0.0.1": 2 });
    const [first, second] = received.map((m) => m.receivedAt) as [number, number];
    expect(second - first).toBeLessThan(250);
  });
});
