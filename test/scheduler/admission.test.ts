import { describe, expect, it } from "vitest";
import { planAdmission } from "../../relay/scheduler/admission.js";
import type { SpooledEnvelope } from "../../relay/spool/envelope.js";
import { emptyProgress, messageProgressSchema } from "../../relay/spool/progress.js";

const envelope: SpooledEnvelope = {
  v: 1,
  id: "m1",
  account: "acme",
  from: "app@acme.test",
  to: ["a@x.test", "b@x.test", "c@x.test", "d@x.test", "a@x.test", "gone@x.test"],
  clientIp: "192.0.2.1",
  heloName: "c.test",
  receivedAt: 0,
  listener: "l",
  transmissionType: "ESMTP",
  refused: [{ address: "gone@x.test", code: "suppressed", reason: "on the bounce list" }],
};

describe("planAdmission", () => {
  it("a fresh message: every recipient once, refused ones only as failures", () => {
    const plan = planAdmission(envelope, emptyProgress());
    expect(plan.pending).toEqual(["a", "b", "c", "d"].map((r) => ({ recipient: `${r}@x.test`, at: 0 })));
    expect(plan.failures).toEqual([
      expect.objectContaining({
        recipient: "gone@x.test",
        failure: expect.objectContaining({ code: "suppressed" }),
      }),
    ]);
  });

  it("after a restart: skips delivered, keeps retry times, re-notifies only unnotified bounces", () => {
    const progress = messageProgressSchema.parse({
      v: 1,
      refusedHandled: true,
      recipients: {
        "a@x.test": { state: "delivered" },
        "b@x.test": { state: "pending", deferrals: 2, nextAttemptAt: 5000 },
        "c@x.test": { state: "bounced", status: "5.1.1", answer: "550 5.1.1 unknown", notified: false },
        "d@x.test": { state: "bounced", status: "5.1.1", answer: "550 5.1.1 unknown", notified: true },
      },
    });
    const plan = planAdmission(envelope, progress);
    expect(plan.pending).toEqual([{ recipient: "b@x.test", at: 5000 }]);
    expect(plan.failures.map((f) => [f.recipient, f.failure.code, f.failure.dsn.status])).toEqual([
      ["c@x.test", "bounced", "5.1.1"],
    ]);
  });
});
