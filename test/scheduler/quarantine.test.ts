/**
 * The scheduler's quarantine (relay/scheduler/scheduler.ts, relay/spool/quarantine.ts), with
 * real copy workers: a message whose copy passes its deadline fails for every recipient
 * still open, copies under way and queued are given up, one notice goes to the sender, and
 * the message moves to spool/quarantine; release puts it back for those recipients only.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { transformForRecipient } from "../../relay/transform/index.js";
import { metricValue, peerRoute, startRig } from "../delivery/harness.js";
import { startSmtpPeer } from "../support/smtp-peer.js";
import { KEYRING, TRACKING_BASE } from "../transform/support.js";

/**
 * Three HTML parts of ~3.4 MB of links each (each under the 4 MiB a part may have to be
 * rewritten): about 2.8 s of CPU to copy on this machine's cores (one part took 0.92 s), so well
 * past the 1.2 s deadline on any machine, while an ordinary message's copy (a few milliseconds
 * of CPU) stays far under it even on a heavily loaded one.
 */
function slowBody(): { headers: string; body: string } {
  const link = '<a href="https://shop.example/p?item=1">item</a>\r\n';
  const part = link.repeat(Math.floor(3_400_000 / link.length));
  const boundary = "poison-boundary";
  return {
    headers: `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n`,
    body: [1, 2, 3]
      .map(
        (n) => `--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>part ${n}</p>\r\n${part}`,
      )
      .concat(`--${boundary}--\r\n`)
      .join("\r\n"),
  };
}

describe("a quarantined message", () => {
  it("fails all its open recipients with one notice to the sender, and leaves the queue for the quarantine", async () => {
    const isp = await startSmtpPeer();
    onTestFinished(() => isp.stop());
    const rig = await startRig({
      routes: { default: peerRoute(isp.port, [{ name: "out1" }]) },
      accounts: [
        { name: "acme", allowedFrom: ["*"] },
        { name: "other", allowedFrom: ["*"] },
      ],
      transform: transformForRecipient,
      tracking: { baseUrl: TRACKING_BASE, keys: KEYRING },
      copyWorkers: 1,
      copies: { timeoutSeconds: 1.2, secondsPerMiB: 0, spareAfterSeconds: 0.2 },
    });
    const recipients = ["a@isp.test", "b@isp.test", "c@isp.test"];
    const poison = await rig.send({ from: "app@acme.test", to: recipients, ...slowBody() });
    await rig.send({ account: "other", from: "billing@other.test", to: ["customer@isp.test"] });
    await rig.scheduler.idle(60_000);

    const [record, ...more] = await rig.scheduler.listQuarantine();
    expect(more).toEqual([]);
    expect(record).toMatchObject({ id: poison.id, account: "acme", reason: "copy_deadline", recipients });
    const spoolDir = join(rig.dir, "spool");
    expect((await readdir(join(spoolDir, "queue"))).filter((n) => n.startsWith(poison.id))).toEqual([]);
    expect(await readdir(join(spoolDir, "copies"))).toEqual([]);

    // The other account's mail went; the poison's recipients got nothing; the sender one notice for all three.
    expect(isp.received.filter((m) => m.to.includes("customer@isp.test"))).toHaveLength(1);
    expect(isp.received.filter((m) => recipients.some((r) => m.to.includes(r)))).toEqual([]);
    const notices = isp.received.filter((m) => m.from === "" && m.to.includes("app@acme.test"));
    expect(notices).toHaveLength(1);
    const notice = notices[0]?.raw.toString("latin1") ?? "";
    for (const recipient of recipients) expect(notice).toContain(`Final-Recipient: rfc822; ${recipient}`);
    expect(notice).toContain("Status: 5.3.0");

    const errors = await rig.store.listErrors("acme");
    expect(errors.items.map((e) => [e.code, e.recipient]).sort()).toEqual(
      recipients.map((r) => ["quarantined", r]),
    );
    const message = await rig.store.getMessage(poison.id);
    expect(message?.recipients.map((r) => r.attempts.at(-1)?.answer)).toEqual(
      recipients.map(() =>
        expect.stringMatching(/^5\.3\.0 quarantined: the copy took longer than its deadline/),
      ),
    );
    const metrics = await rig.metrics.registry.metrics();
    expect(metricValue(metrics, 'relayfleet_quarantined_total{reason="copy_deadline"}')).toBe(1);

    // Released, it is copied again for the same three (and quarantined again: it is as slow as before).
    expect(await rig.scheduler.releaseQuarantined(poison.id)).toBe(true);
    expect(await rig.scheduler.releaseQuarantined(poison.id)).toBe(false);
    await rig.scheduler.idle(60_000);
    const [again] = await rig.scheduler.listQuarantine();
    expect(again).toMatchObject({ id: poison.id, recipients });
    expect(again?.at).toBeGreaterThan(record?.at ?? 0);
  }, 120_000);
});
