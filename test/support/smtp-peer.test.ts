import { createTransport } from "nodemailer";
import { afterEach, describe, expect, it } from "vitest";
import { type SmtpPeer, startSmtpPeer } from "./smtp-peer.js";

const peers: SmtpPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

function send(peer: SmtpPeer, localAddress: string, to = "rcpt@isp.test") {
  const transport = createTransport({
    host: peer.host,
    port: peer.port,
    secure: false,
    localAddress,
    ignoreTLS: true,
  });
  return transport.sendMail({
    envelope: { from: "sender@acme.test", to: [to] },
    raw: "From: sender@acme.test\r\nTo: rcpt@isp.test\r\nSubject: hi\r\n\r\nhello\r\n",
  });
}

describe("SMTP peer (test harness)", () => {
  it("records what it accepts, with the client's source address", async () => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    await send(peer, "127.0.0.2");
    const [message] = await peer.waitForMessages(1);
    expect(message?.clientIp).toBe("127.0.0.2");
    expect(message?.to).toEqual(["rcpt@isp.test"]);
    expect(message?.raw.toString()).toContain("Subject: hi");
  });

  it("answers blocked for one source address and accepts another", async () => {
    const peer = await startSmtpPeer({ name: "bigisp.test" });
    peers.push(peer);
    peer.forSource("127.0.0.2", "blocked");
    await expect(send(peer, "127.0.0.2")).rejects.toMatchObject({
      responseCode: 554,
      response: expect.stringContaining("blocked using bigisp.test"),
    });
    await send(peer, "127.0.0.3");
    expect(peer.received.map((m) => m.clientIp)).toEqual(["127.0.0.3"]);
  });

  it("defers and rejects on request, per recipient or by default", async () => {
    const peer = await startSmtpPeer();
    peers.push(peer);
    peer.forRecipient("gone@isp.test", "reject");
    await expect(send(peer, "127.0.0.2", "gone@isp.test")).rejects.toMatchObject({ responseCode: 550 });
    peer.setDefault("defer");
    await expect(send(peer, "127.0.0.2")).rejects.toMatchObject({ responseCode: 451 });
    expect(peer.received).toHaveLength(0);
  });

  it("can block at connect time, as some ISPs do", async () => {
    const peer = await startSmtpPeer({ stage: "connect" });
    peers.push(peer);
    peer.forSource("127.0.0.4", "blocked");
    await expect(send(peer, "127.0.0.4")).rejects.toMatchObject({ responseCode: 554 });
    expect(peer.connections.get("127.0.0.4")).toBe(1);
  });
});
