/**
 * The stages read header fields with one reader (relay/mail/header-fields.ts), so they agree on
 * a folded field: the intake that checks and records X-Relay-Group, the copy that reads
 * X-Relay-Track from the spooled bytes, and the feedback's MIME reader.
 */
import { describe, expect, it } from "vitest";
import { readRelayInstructions } from "../../relay/copy/instructions.js";
import { parseMime } from "../../relay/feedback/index.js";
import { startTestIntake } from "../support/intake.js";
import { rawSmtp } from "../support/smtp-client.js";

const office = { name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] };

async function send(port: number, header: string): Promise<string> {
  const client = await rawSmtp(port);
  expect(await client.reply()).toMatch(/^220 /);
  expect(await client.command("EHLO client.test")).toMatch(/^250/);
  expect(await client.command("MAIL FROM:<app@office.test>")).toMatch(/^250/);
  expect(await client.command("RCPT TO:<rcpt@isp.test>")).toMatch(/^250/);
  expect(await client.command("DATA")).toMatch(/^354/);
  client.send(
    Buffer.from(`From: app@office.test\r\nTo: rcpt@isp.test\r\n${header}\r\nbody\r\n.\r\n`, "utf8"),
  );
  const reply = await client.reply();
  client.close();
  return reply;
}

describe("a folded field", () => {
  it("is unfolded alike by the intake and the copy: the line break goes, the blanks after it stay", async () => {
    const intake = await startTestIntake({ accounts: [office] });

    // Space-folded: the group is "a   b" (three spaces), not "a b", and the copy keeps the track.
    expect(await send(intake.port, "X-Relay-Group: a\r\n   b\r\nX-Relay-Track: opens=off\r\n")).toMatch(
      /^250 /,
    );
    expect((await intake.store.listGroups("office")).map((group) => group.name)).toEqual(["a   b"]);
    expect(await readRelayInstructions(intake.accepted[0]!)).toEqual({ track: { opens: false } });

    // Tab-folded: "a<TAB>b" is no group name (a tab is not a space), so the intake refuses it, as
    // the copy would; it no longer takes it as "a b".
    expect(await send(intake.port, "X-Relay-Group: a\r\n\tb\r\n")).toMatch(/^554 5\.6\.0 X-Relay-Group/);
    expect(intake.accepted).toHaveLength(1);
  });

  it("is trimmed alike: of ASCII blanks only, so a name ending in a UTF-8 à keeps its last byte at the copy", async () => {
    const intake = await startTestIntake({ accounts: [office] });
    expect(await send(intake.port, "X-Relay-Group: voilà \r\nX-Relay-Track: opens=off\r\n")).toMatch(/^250 /);
    expect((await intake.store.listGroups("office")).map((group) => group.name)).toEqual(["voilà"]);
    expect(await readRelayInstructions(intake.accepted[0]!)).toEqual({ track: { opens: false } });
  });

  it("is unfolded alike by the feedback's MIME reader, whose parts may have no header at all", () => {
    const report = parseMime(
      Buffer.from(
        'Subject: Undelivered\r\n\tMail\r\nContent-Type: multipart/mixed;\r\n boundary="b"\r\n\r\n' +
          "--b\r\n\r\nFirst paragraph.\r\n\r\nSecond.\r\n--b--\r\n",
      ),
    );
    expect(report.headers.map((field) => [field.name, field.value])).toEqual([
      ["subject", "Undelivered\tMail"],
      ["content-type", 'multipart/mixed; boundary="b"'],
    ]);
    // A part that starts with its empty line has no header: all of it is body.
    expect(report.children[0]?.body.toString()).toBe("First paragraph.\r\n\r\nSecond.");
  });
});
