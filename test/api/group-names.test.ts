/**
 * One rule for group names (relay/vocabulary.ts): a name the API takes is a
 * name the intake takes in X-Relay-Group, and the copy then still honours the
 * message's X-Relay-Track; a name one refuses, the others refuse too.
 */
import { describe, expect, it } from "vitest";
import { readRelayHeaders } from "../../relay/transform/index.js";
import { startTestIntake } from "../support/intake.js";
import { rawSmtp } from "../support/smtp-client.js";
import { startApi } from "./fixture.js";

const NAMES = [
  "receipts",
  "Password resets",
  "receipts/2024",
  "a.b_c:d@e+f-g",
  "ünïcødé ök",
  "日本語",
  "x".repeat(128),
  "x".repeat(129),
  "",
  "a{b}",
  "a;b",
  "<script>",
];

const office = { name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] };

describe("group names", () => {
  it("are accepted or refused alike by the API, the intake's X-Relay-Group and the copy's X-Relay-Track", async () => {
    const api = await startApi();
    expect((await api.call("PUT", "/v1/accounts/acme", { body: {} })).status).toBe(201);
    const intake = await startTestIntake({ accounts: [office] });

    for (const name of NAMES) {
      const byApi = (await api.call("POST", "/v1/accounts/acme/groups", { body: { name } })).status;
      expect([200, 201, 400], name).toContain(byApi);

      const header = Buffer.from(
        `From: app@office.test\r\nTo: rcpt@isp.test\r\nSubject: t\r\nX-Relay-Group: ${name}\r\nX-Relay-Track: opens=off\r\n\r\n`,
        "utf8",
      );
      const client = await rawSmtp(intake.port);
      expect(await client.reply()).toMatch(/^220 /);
      expect(await client.command("EHLO client.test")).toMatch(/^250/);
      expect(await client.command("MAIL FROM:<app@office.test>")).toMatch(/^250/);
      expect(await client.command("RCPT TO:<rcpt@isp.test>")).toMatch(/^250/);
      expect(await client.command("DATA")).toMatch(/^354/);
      client.send(Buffer.concat([header, Buffer.from("body\r\n.\r\n")]));
      const byIntake = await client.reply();
      client.close();

      const accepted = byApi !== 400;
      expect(byIntake, name).toMatch(accepted ? /^250 / : /^554 5\.6\.0 X-Relay-Group/);
      if (accepted) {
        expect(readRelayHeaders(header), name).toEqual({ group: name, track: { opens: false } });
      } else {
        expect(() => readRelayHeaders(header), name).toThrow(/X-Relay-Group/);
      }
    }
    // A header's value is trimmed, so it cannot carry these; the API refuses them rather than keep a group no mail joins.
    for (const name of [" leading", "trailing "])
      expect((await api.call("POST", "/v1/accounts/acme/groups", { body: { name } })).status, name).toBe(400);
    const listed = (await api.call("GET", "/v1/accounts/acme/groups")).json() as {
      items: { name: string }[];
    };
    expect(listed.items.map((g) => g.name).sort()).toEqual(
      [
        "receipts",
        "Password resets",
        "receipts/2024",
        "a.b_c:d@e+f-g",
        "ünïcødé ök",
        "日本語",
        "x".repeat(128),
      ].sort(),
    );
  });
});
