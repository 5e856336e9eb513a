/** The relay's own deferral reasons (relay/deferrals.ts): each one's status and the text users see. */
import { describe, expect, it } from "vitest";
import { deferralAnswer, type LocalDeferral } from "../../relay/deferrals.js";
import { classifyAnswer, localDeferralVerdict } from "../../relay/delivery/classify.js";

const cases: [LocalDeferral, string][] = [
  [{ kind: "relay_stopping" }, "4.3.0 the relay is stopping"],
  [{ kind: "copy_cancelled", detail: "gone" }, "4.3.0 copy cancelled: gone"],
  [{ kind: "copy_worker_unavailable", detail: "exited" }, "4.3.0 local error: exited"],
  [{ kind: "spool_unreadable", detail: "EIO" }, "4.3.0 local error reading the message: EIO"],
  [
    { kind: "mx_unavailable", detail: "no answer for example.net (5.1.2 elsewhere)" },
    "4.4.3 no answer for example.net (5.1.2 elsewhere)",
  ],
  [{ kind: "no_route_table", table: "bulk" }, '4.3.5 no route table "bulk"'],
  [{ kind: "no_sender", reason: "every sender is blocked" }, "4.4.5 every sender is blocked"],
  [{ kind: "route_changed" }, "4.3.5 route changed"],
  [{ kind: "local_error", detail: "Error: boom" }, "4.3.0 local error: Error: boom"],
];

describe("local deferrals", () => {
  it.each(cases)("%o reads %s, its status carried beside the text", (deferral, text) => {
    const answer = deferralAnswer(deferral);
    expect(answer.text).toBe(text);
    expect(answer.status).toMatch(/^4\.\d\.\d$/);
    expect(answer.text.startsWith(`${answer.status} `)).toBe(true);
  });

  it("give the verdict the answer's text would have been classified as", () => {
    for (const [deferral] of cases) {
      const { status, text } = deferralAnswer(deferral);
      expect(localDeferralVerdict(status)).toEqual(classifyAnswer({ text, stage: "local" }));
    }
  });
});
