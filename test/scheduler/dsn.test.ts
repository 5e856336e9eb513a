import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { accountSchema } from "../../relay/accounts/schema.js";
import { buildDsn, noticeRecipients } from "../../relay/notify/index.js";

const account = (notify: Record<string, unknown>) =>
  accountSchema.parse({ name: "acme", notify, createdAt: 0, updatedAt: 0 });

describe("noticeRecipients", () => {
  it("follows the account's notify settings", () => {
    const both = account({ accountManager: "ops@acme.test", toAccountManager: true, toFrom: true });
    expect(noticeRecipients(both, "app@acme.test")).toEqual(["ops@acme.test", "app@acme.test"]);
    expect(
      noticeRecipients(account({ accountManager: "ops@acme.test", toFrom: false }), "app@acme.test"),
    ).toEqual(["ops@acme.test"]);
    expect(
      noticeRecipients(
        account({ accountManager: "ops@acme.test", toAccountManager: false }),
        "app@acme.test",
      ),
    ).toEqual(["app@acme.test"]);
    expect(noticeRecipients(account({ toFrom: true }), "app@acme.test")).toEqual(["app@acme.test"]);
    expect(noticeRecipients(both, "OPS@acme.test")).toEqual(["ops@acme.test"]);
  });

  it("never notifies about a notification (null sender)", () => {
    expect(noticeRecipients(account({ accountManager: "ops@acme.test" }), "")).toEqual([]);
  });
});

describe("buildDsn", () => {
  it("is an RFC 3464 multipart/report that mail parsers understand", async () => {
    const raw = buildDsn({
      reportingMta: "relay.test",
      queueId: "q1",
      arrivalDate: Date.UTC(2025, 0, 1),
      now: Date.UTC(2025, 0, 4),
      to: ["app@acme.test"],
      subject: "Undelivered Mail Returned to Sender",
      explanation: "Could not deliver.",
      recipients: [
        {
          address: "gone@x.test",
          action: "failed",
          status: "5.1.1",
          diagnostic: { type: "smtp", text: "550 5.1.1 User unknown\r\nInjected: yes" },
          remoteMta: "mx.x.test",
          lastAttemptAt: Date.UTC(2025, 0, 3),
        },
      ],
      originalHeaders: Buffer.from("From: app@acme.test\nSubject: hello\n\n"),
      boundary: "BOUNDARY",
    });
    const text = raw.toString();
    expect(text).toContain(
      'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"',
    );
    expect(text).toContain("Auto-Submitted: auto-replied");
    expect(text).toContain(
      "Final-Recipient: rfc822; gone@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.x.test\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown Injected: yes\r\n",
    );
    expect(text).not.toContain("\nInjected");
    expect(text).toContain(
      "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\nFrom: app@acme.test\r\nSubject: hello\r\n\r\n--BOUNDARY--",
    );
    const parsed = await simpleParser(raw);
    expect(parsed.subject).toBe("Undelivered Mail Returned to Sender");
    expect(parsed.from?.value[0]?.address).toBe("MAILER-DAEMON@relay.test");
    expect(parsed.text).toContain("<gone@x.test>");
  });
});
