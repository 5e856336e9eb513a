/** The one reader of header fields (relay/mail/header-fields.ts). */
import { describe, expect, it } from "vitest";
import {
  fieldValue,
  fieldValues,
  headerBlockEnd,
  parseFieldGroups,
  parseHeaderFields,
  splitHeaderBody,
} from "./header-fields.js";

describe("a header block", () => {
  it("ends before the first empty line, CRLF or bare LF, the last field's line break included", () => {
    expect(headerBlockEnd("A: 1\r\nB: 2\r\n\r\nbody")).toBe(12);
    expect(headerBlockEnd("A: 1\n\nbody\r\n\r\n")).toBe(5);
    expect(headerBlockEnd("A: 1\r\nB: 2\r\n")).toBe(-1);
    // An empty line is a line: LF then CRLF ends the block too, and so does one at the very start.
    expect(headerBlockEnd("A: 1\n\r\nbody")).toBe(5);
    expect(headerBlockEnd("\r\nbody\r\n\r\n")).toBe(0);
    // A line of blanks is a continuation, not an empty line.
    expect(headerBlockEnd("A: 1\r\n \r\nB: 2\r\n\r\n")).toBe(15);
  });

  it("is split from the body after its empty line; text with none is all header", () => {
    expect(splitHeaderBody("A: 1\r\n\r\nbody")).toEqual({ header: "A: 1\r\n", bodyStart: 8 });
    expect(splitHeaderBody("A: 1\n\nbody")).toEqual({ header: "A: 1\n", bodyStart: 6 });
    expect(splitHeaderBody("\r\nno header")).toEqual({ header: "", bodyStart: 2 });
    expect(splitHeaderBody("A: 1\r\n")).toEqual({ header: "A: 1\r\n", bodyStart: 6 });
  });
});

describe("header fields", () => {
  it("are unfolded as RFC 5322 §2.2.3 says: the line break before a blank goes, the blank stays", () => {
    const fields = parseHeaderFields(
      "Subject: one\r\n\ttwo\r\n   three\nX-Relay-Group: a\r\n\tb\r\n\r\nBody: no\r\n",
    );
    expect(fields.map((field) => [field.name, field.value])).toEqual([
      ["subject", "one\ttwo   three"],
      ["x-relay-group", "a\tb"],
    ]);
    expect(fields.map((field) => field.raw).join("")).toBe(
      "Subject: one\r\n\ttwo\r\n   three\nX-Relay-Group: a\r\n\tb\r\n",
    );
  });

  it("are trimmed of ASCII blanks only, so a latin1-read byte 0xA0 (the end of a UTF-8 à) stays", () => {
    const block = Buffer.from("X-Relay-Group:  voilà \t\r\n", "utf8").toString("latin1");
    const value = fieldValue(parseHeaderFields(block), "x-relay-group") as string;
    expect(Buffer.from(value, "latin1").toString("utf8")).toBe("voilà");
  });

  it("are looked up in any case, first or all, in order", () => {
    const fields = parseHeaderFields("From: a@x.test\r\nfrom : b@x.test\r\nSubject:\r\n");
    expect(fieldValues(fields, "FROM")).toEqual(["a@x.test", "b@x.test"]);
    expect(fieldValue(fields, "From")).toBe("a@x.test");
    expect(fieldValue(fields, "subject")).toBe("");
    expect(fieldValue(fields, "to")).toBeUndefined();
  });

  it("keep every line: one that is not a field, and what continues it, is an entry with no name", () => {
    const text = " stray: x\r\nFrom me\r\nA: 1\r\n--b\r\n more: 2\r\nB\u00e9: 3\r\nC: 4";
    const fields = parseHeaderFields(text);
    expect(fields.map((field) => [field.name, field.value])).toEqual([
      ["", ""],
      ["", ""],
      ["a", "1"],
      ["", ""],
      ["", ""],
      ["c", "4"],
    ]);
    expect(fields.map((field) => field.raw).join("")).toBe(text);
    // A continuation after a line that is no field does not extend the field before it.
    expect(fieldValue(fields, "a")).toBe("1");
  });

  it("come in groups apart by empty lines in a report body, a run of them counting as one", () => {
    const groups = parseFieldGroups(
      "\r\nReporting-MTA: dns; a\r\n\r\n\r\nAction: failed\r\n\tnow\nStatus: 5.1.1\n\n",
    );
    expect(groups.map((fields) => fields.map((field) => [field.name, field.value]))).toEqual([
      [["reporting-mta", "dns; a"]],
      [
        ["action", "failed\tnow"],
        ["status", "5.1.1"],
      ],
    ]);
  });

  it("take time linear in the block, however it is folded", () => {
    const long = `A:${" \r\n".repeat(200_000)}B: x\r\n`;
    const started = performance.now();
    expect(fieldValue(parseHeaderFields(long), "b")).toBe("x");
    expect(headerBlockEnd("x\n".repeat(200_000))).toBe(-1);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
