import { describe, expect, it } from "vitest";
import { classifyAnswer, repeatedConnectRefusal } from "../../relay/delivery/classify.js";

describe("classifyAnswer", () => {
  it("2xx is delivered", () => {
    expect(
      classifyAnswer({ responseCode: 250, text: "250 2.0.0 Ok: queued as X", stage: "data" }).outcome,
    ).toBe("delivered");
  });

  it("4xx and connection errors are deferred", () => {
    expect(
      classifyAnswer({ responseCode: 451, text: "451 4.7.1 try again later", stage: "rcpt" }),
    ).toMatchObject({
      outcome: "deferred",
      status: "4.7.1",
      connectRefusal: false,
    });
    expect(classifyAnswer({ text: "connect ECONNREFUSED 127.0.0.1:25", stage: "connect" })).toMatchObject({
      outcome: "deferred",
      connectRefusal: true,
    });
    expect(
      classifyAnswer({ responseCode: 421, text: "421 4.3.2 busy", stage: "connect" }).connectRefusal,
    ).toBe(true);
  });

  it("5xx bounces; 5.1.x other than sender problems marks an unknown recipient", () => {
    expect(
      classifyAnswer({
        responseCode: 550,
        text: "550 5.1.1 <a@b.test>: Recipient address rejected: User unknown",
        stage: "rcpt",
      }),
    ).toMatchObject({ outcome: "bounced", unknownRecipient: true, status: "5.1.1" });
    expect(
      classifyAnswer({ responseCode: 553, text: "553 5.1.8 sender domain unknown", stage: "mail" })
        .unknownRecipient,
    ).toBe(false);
    expect(
      classifyAnswer({ responseCode: 552, text: "552 5.3.4 message too big", stage: "data" }),
    ).toMatchObject({
      outcome: "bounced",
      unknownRecipient: false,
    });
    // No enhanced code: the text decides.
    expect(
      classifyAnswer({ responseCode: 550, text: "550 No such user here", stage: "rcpt" }).unknownRecipient,
    ).toBe(true);
  });

  it.each([
    "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.spamhaus.org",
    "550 5.7.1 Your IP is blacklisted",
    "421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints",
    "550 SC-001 Mail rejected by Outlook.com for policy reasons. Reasons for rejection may be related to content with spam-like characteristics or IP/domain reputation problems. poor reputation",
    "554 5.7.1 rejected: 198.51.100.3 has been refused",
    "550 5.7.1 [2001:db8::1] refused",
  ])("recognises a block: %s", (text) => {
    const responseCode = Number(text.slice(0, 3));
    expect(classifyAnswer({ responseCode, text, stage: "rcpt" }).outcome).toBe("blocked");
  });

  it("does not take every 5.7.1 or a time of day for a block", () => {
    expect(
      classifyAnswer({ responseCode: 550, text: "550 5.7.1 Relaying denied", stage: "rcpt" }).outcome,
    ).toBe("bounced");
    expect(
      classifyAnswer({ responseCode: 550, text: "550 5.7.1 policy rejection at 12:30:45", stage: "rcpt" })
        .outcome,
    ).toBe("bounced");
  });

  it("adds the route table's own patterns", () => {
    const answer = { responseCode: 550, text: "550 5.7.0 Go away, mailer", stage: "rcpt" as const };
    expect(classifyAnswer(answer).outcome).toBe("bounced");
    expect(classifyAnswer(answer, ["GO AWAY"]).outcome).toBe("blocked");
  });

  it("a block found at connect counts as a connect refusal", () => {
    const verdict = classifyAnswer({
      responseCode: 554,
      text: "554 blocked using rbl.test",
      stage: "connect",
    });
    expect(verdict).toMatchObject({ outcome: "blocked", connectRefusal: true });
  });
});

describe("repeatedConnectRefusal", () => {
  it("needs three refusals within the window", () => {
    expect(repeatedConnectRefusal([1000, 2000], 2000)).toBe(false);
    expect(repeatedConnectRefusal([1000, 2000, 3000], 3000)).toBe(true);
    expect(repeatedConnectRefusal([0, 700_000, 700_001], 700_001)).toBe(false);
    expect(repeatedConnectRefusal([1, 2], 3, { threshold: 2 })).toBe(true);
  });
});
