/**
 * Reading reports (pure): every sample of the set is read as the kind of
 * report it is and means what it must for the recipient; plus the shapes the
 * samples do not cover (ARF opt-out and not-spam, auto-replies, broken MIME).
 */
import { describe, expect, it } from "vitest";
import { parseMime, readReport, verdictFor } from "../../relay/feedback/index.js";
import { SAMPLES, sampleBytes } from "./samples.js";

const read = (raw: string | Buffer) => readReport(parseMime(Buffer.isBuffer(raw) ? raw : Buffer.from(raw)));

describe("the sample set", () => {
  for (const sample of SAMPLES) {
    it(`${sample.name}: ${sample.report} → ${sample.kind}`, () => {
      const report = read(sampleBytes(sample));
      expect(report.kind).toBe(sample.report);
      const verdict = verdictFor(report, "reader@isp.test");
      expect(verdict.kind).toBe(sample.kind);
      if (sample.status) expect(verdict.status).toBe(sample.status);
      expect(verdict.detail.length).toBeGreaterThan(0);
      expect(verdict.detail).not.toMatch(/[\r\n]/);
    });
  }

  it("the same bytes with CRLF line ends read the same", () => {
    for (const sample of SAMPLES) {
      const crlf = sampleBytes(sample).toString("latin1").replace(/\r?\n/g, "\r\n");
      expect(verdictFor(read(Buffer.from(crlf, "latin1")), "x@y.test").kind, sample.name).toBe(sample.kind);
    }
  });
});

const arf = (type: string) =>
  [
    'Content-Type: multipart/report; report-type=feedback-report; boundary="b"',
    "",
    "--b",
    "Content-Type: text/plain",
    "",
    "report",
    "--b",
    "Content-Type: message/feedback-report",
    "",
    `Feedback-Type: ${type}`,
    "Version: 1",
    "--b--",
    "",
  ].join("\r\n");

describe("reports the samples do not cover", () => {
  it("ARF feedback types: opt-out is an unsubscribe, not-spam is ignored, unknown types count as complaints", () => {
    expect(verdictFor(read(arf("opt-out")), "a@b.test").kind).toBe("unsubscribe");
    expect(verdictFor(read(arf("not-spam")), "a@b.test")).toMatchObject({ kind: "ignored", keep: false });
    expect(verdictFor(read(arf("fraud")), "a@b.test").kind).toBe("complaint");
    expect(verdictFor(read(arf("something-new")), "a@b.test")).toMatchObject({
      kind: "complaint",
      detail: "feedback-type something-new (as other)",
    });
  });

  it("in a DSN naming several recipients, the one the token names speaks for it", () => {
    const dsn = [
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      "",
      "--b",
      "Content-Type: message/delivery-status",
      "",
      "Reporting-MTA: dns; mx.example",
      "",
      "Final-Recipient: rfc822; other@isp.test",
      "Action: failed",
      "Status: 5.1.1",
      "",
      "Final-Recipient: rfc822; <Reader@ISP.test>",
      "Action: delayed",
      "Status: 4.2.2",
      "--b--",
    ].join("\n");
    expect(verdictFor(read(dsn), "reader@isp.test")).toMatchObject({ kind: "delayed", status: "4.2.2" });
    expect(verdictFor(read(dsn), "nobody@isp.test")).toMatchObject({ kind: "hard_bounce", status: "5.1.1" });
  });

  it("a full mailbox and a 5.7.1 block are soft; 5.2.1 and 5.1.10 are hard; sender codes 5.1.7/5.1.8 are soft", () => {
    const one = (status: string, diagnostic: string) =>
      verdictFor(
        read(
          [
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
            "",
            "--b",
            "Content-Type: message/delivery-status",
            "",
            "Final-Recipient: rfc822; r@isp.test",
            "Action: failed",
            `Status: ${status}`,
            `Diagnostic-Code: smtp; ${diagnostic}`,
            "--b--",
          ].join("\n"),
        ),
        "r@isp.test",
      ).kind;
    expect(one("5.2.2", "552 5.2.2 Mailbox full")).toBe("soft_bounce");
    expect(
      one("5.7.1", "554 5.7.1 Service unavailable; client [192.0.2.7] blocked using zen.spamhaus.org"),
    ).toBe("soft_bounce");
    expect(one("5.2.1", "550 5.2.1 mailbox disabled")).toBe("hard_bounce");
    expect(one("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound")).toBe("hard_bounce");
    expect(one("5.1.8", "553 5.1.8 sender domain does not exist")).toBe("soft_bounce");
    expect(one("4.4.7", "expired")).toBe("soft_bounce");
  });

  it("auto-replies are ignored, not taken for bounces", () => {
    const reply =
      "From: someone@isp.test\nSubject: Out of Office: hello\nAuto-Submitted: auto-replied\n\nI am away.\n";
    expect(verdictFor(read(reply), "someone@isp.test")).toMatchObject({ kind: "ignored", keep: false });
  });

  it("a prose bounce quoting an SMTP answer is classified from the answer", () => {
    const yahoo = [
      "From: MAILER-DAEMON@yahoo.com",
      "Subject: Failure Notice",
      "",
      "Sorry, we were unable to deliver your message to the following address.",
      "",
      "<gone@yahoo.test>:",
      "Remote host said: 554 delivery error: dd This user doesn't have a yahoo.com account (gone@yahoo.test) [0] - mta1",
      "",
    ].join("\n");
    const report = read(yahoo);
    expect(report).toMatchObject({ kind: "prose", shape: "yahoo" });
    expect(verdictFor(report, "gone@yahoo.test")).toMatchObject({ kind: "hard_bounce", status: "5.1.1" });
    // The same shape with an answer about content, not the address, is soft.
    const content = yahoo.replace(/dd This user.*$/m, "Message rejected as spam");
    expect(verdictFor(read(content), "gone@yahoo.test").kind).toBe("soft_bounce");
  });

  it("broken and hostile MIME never throws: unterminated, boundary-less and deeply nested", () => {
    expect(
      read('Content-Type: multipart/report; boundary="x"\n\n--x\nContent-Type: text/plain\n\nhi').kind,
    ).toBe("unknown");
    expect(read("Content-Type: multipart/report\n\nno boundary at all").kind).toBe("unknown");
    let nested =
      "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.test\nAction: failed\nStatus: 5.1.1\n";
    for (let i = 0; i < 50; i++)
      nested = `Content-Type: multipart/mixed; boundary="n${i}"\n\n--n${i}\n${nested}\n--n${i}--\n`;
    expect(() => read(nested)).not.toThrow();
    const many = ['Content-Type: multipart/mixed; boundary="m"', ""];
    for (let i = 0; i < 5000; i++) many.push("--m", "Content-Type: text/plain", "", "x");
    many.push("--m--");
    const parsed = parseMime(Buffer.from(many.join("\n")));
    expect(parsed.children.length).toBeLessThan(201);
    expect(read(Buffer.alloc(0)).kind).toBe("unknown");
  });
});
