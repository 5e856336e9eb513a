/** The console's pure parts: query strings, timelines, chart buckets, error placement, CSV, file names. */
import { describe, expect, it } from "vitest";
import { axisMax } from "./app/chart.js";
import { fieldForIssue, linesOf, logQuery, timeBuckets, timelineFor, toCsv } from "./app/logic.js";
import { consoleFileFor, isConsolePath } from "./serve.js";

describe("logQuery", () => {
  it("keeps only the filters given, trims text, turns local times into epoch milliseconds", () => {
    expect(logQuery({ rcpt: "  a@b.test ", status: "", group: "" })).toBe("?rcpt=a%40b.test");
    const since = "2026-03-01T10:00";
    expect(logQuery({ since, until: "not a date" }, { limit: "50" })).toBe(
      `?since=${Date.parse(since)}&limit=50`,
    );
    expect(logQuery({})).toBe("");
  });
});

describe("timelineFor", () => {
  it("merges attempts and the recipient's events in time order, without repeating an attempt's outcome", () => {
    const attempts = [
      {
        at: 10,
        sender: "s1",
        sourceIp: "192.0.2.1",
        outcome: "deferred",
        responseCode: 451,
        answer: "try later",
      },
      { at: 20, sender: "s2", outcome: "delivered", responseCode: 250, answer: "ok" },
    ];
    const events = [
      { type: "deferred", recipient: "a@x.test", at: 10 },
      { type: "delivered", recipient: "a@x.test", at: 20 },
      { type: "click", recipient: "A@X.test", at: 40, url: "https://x.test/" },
      { type: "open", recipient: "a@x.test", at: 30, bot: true, userAgent: "<b>" },
      { type: "open", recipient: "other@x.test", at: 35 },
    ];
    const entries = timelineFor("a@x.test", attempts, events);
    expect(entries.map((e) => e.label)).toEqual([
      "attempt: deferred",
      "attempt: delivered",
      "opened (bot)",
      "clicked",
    ]);
    expect(entries[0]?.detail).toBe("via s1 · from 192.0.2.1 · answer: 451 try later");
    expect(entries[2]?.detail).toBe("agent <b>");
    expect(entries[3]?.detail).toBe("link https://x.test/");
  });
});

describe("timeBuckets", () => {
  it("lays hour-aligned, touching buckets that end at or after the given time", () => {
    const now = Date.UTC(2026, 2, 1, 10, 25);
    const buckets = timeBuckets(now, 86_400_000, 12);
    expect(buckets).toHaveLength(12);
    expect(buckets.at(-1)?.until).toBe(Date.UTC(2026, 2, 1, 11));
    for (const [i, b] of buckets.entries()) {
      expect(b.since % 3_600_000).toBe(0);
      expect(b.until - b.since).toBe(2 * 3_600_000);
      if (i > 0) expect(b.since).toBe(buckets[i - 1]?.until);
    }
    expect(buckets[0]?.label).toBe("11:00");
    const days = timeBuckets(now, 7 * 86_400_000, 7);
    expect(days.map((b) => b.label)).toEqual(["02-23", "02-24", "02-25", "02-26", "02-27", "02-28", "03-01"]);
  });
});

describe("fieldForIssue", () => {
  it("places an issue on the longest matching field, else on the form", () => {
    const known = ["limits", "limits.perHour", "allowedIps", "wrapColumn"];
    expect(fieldForIssue("allowedIps.2", known)).toBe("allowedIps");
    expect(fieldForIssue("limits.perHour", known)).toBe("limits.perHour");
    expect(fieldForIssue("wrapColumnX", known)).toBe("(form)");
    expect(fieldForIssue("(body)", known)).toBe("(form)");
  });
});

describe("toCsv", () => {
  it("neutralises a subject a spreadsheet would run as a formula, as the API's CSV does", () => {
    expect(toCsv([{ id: "a", subject: "=cmd|' /C calc'!A0", size: -1 }], ["id"])).toBe(
      "id,subject,size\r\na,\"'=cmd|' /C calc'!A0\",-1\r\n",
    );
  });

  it("uses one header for rows whose optional fields differ, quoting like the API", () => {
    const csv = toCsv(
      [
        { id: "a", subject: 'say "hi", ok', recipients: [{ address: "x@y" }] },
        { id: "b", group: "g\nh" },
      ],
      ["id", "group"],
    );
    expect(csv).toBe(
      'id,group,subject,recipients\r\na,,"say ""hi"", ok","[{""address"":""x@y""}]"\r\nb,"g\nh",,\r\n',
    );
  });
});

describe("small helpers", () => {
  it("axisMax rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 3, 7, 11, 180, 501].map(axisMax)).toEqual([1, 1, 5, 10, 20, 200, 1000]);
  });
  it("linesOf drops blank lines", () => {
    expect(linesOf(" a \r\n\n b\n")).toEqual(["a", "b"]);
  });
});

describe("console file names", () => {
  it("serves flat asset names only: no traversal, no other folders", () => {
    expect(isConsolePath("/console")).toBe(true);
    expect(isConsolePath("/consoles")).toBe(false);
    expect(consoleFileFor("/console/")).toBe("index.html");
    expect(consoleFileFor("/console/main.js")).toBe("main.js");
    expect(consoleFileFor("/console/../serve.js")).toBeUndefined();
    expect(consoleFileFor("/console/%2e%2e/serve.js")).toBeUndefined();
    expect(consoleFileFor("/console/app/main.js")).toBeUndefined();
    expect(consoleFileFor("/console/main.ts")).toBeUndefined();
    expect(consoleFileFor("/console/main.js.map")).toBeUndefined();
  });
});
