/** Pure pieces of the API: format negotiation, CSV and XML writing, JSON merge patch. */
import { parse as parseCsv } from "csv-parse/sync";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { mergePatch } from "../../relay/api/endpoints-accounts.js";
import { negotiateFormat, toCsv, toXml, xmlText } from "../../relay/api/formats.js";

describe("negotiateFormat", () => {
  it.each([
    [null, undefined, "json"],
    [null, "", "json"],
    [null, "text/csv", "csv"],
    [null, "application/xml;q=0.2, text/csv;q=0.8", "csv"],
    [null, "text/html;q=1, application/xml;q=0.5", "xml"],
    [null, "*/*", "json"],
    [null, "text/csv;q=0, application/json", "json"],
    [null, "image/png", undefined],
    ["CSV", "application/xml", "csv"],
    ["yaml", undefined, undefined],
  ])("format=%s Accept=%s → %s", (param, accept, expected) => {
    expect(negotiateFormat(param, accept)).toBe(expected);
  });
});

describe("toCsv", () => {
  it("writes RFC 4180: header row, CRLF, quotes only where needed, doubled inner quotes", () => {
    const csv = toCsv([
      { a: "plain", b: 'say "hi"', c: "x,y" },
      { a: "line\r\nbreak", b: 12, c: undefined },
    ]);
    expect(csv).toBe('a,b,c\r\nplain,"say ""hi""","x,y"\r\n"line\r\nbreak",12,\r\n');
    expect(parseCsv(csv, { columns: true })).toEqual([
      { a: "plain", b: 'say "hi"', c: "x,y" },
      { a: "line\r\nbreak", b: "12", c: "" },
    ]);
  });
  it("dots nested objects, keeps arrays as JSON, and writes a header for an empty list", () => {
    expect(toCsv([{ limits: { perHour: 1 }, tags: ["a", "b"] }])).toBe(
      'limits.perHour,tags\r\n1,"[""a"",""b""]"\r\n',
    );
    expect(toCsv([], ["name", "createdAt"])).toBe("name,createdAt\r\n");
  });

  it("neutralises text that a spreadsheet would run as a formula, and leaves numbers alone", () => {
    expect(
      toCsv([
        {
          subject: '=HYPERLINK("http://evil.example","x")',
          from: "@SUM(1)",
          note: "+1",
          delta: -5,
          reason: "-x",
        },
      ]),
    ).toBe(
      'subject,from,note,delta,reason\r\n"\'=HYPERLINK(""http://evil.example"",""x"")","\'@SUM(1)","\'+1",-5,"\'-x"\r\n',
    );
    expect(toCsv([{ subject: "\tcmd" }])).toBe('subject\r\n"\'\tcmd"\r\n');
    expect(toCsv([{ subject: "Results: 5-2" }])).toBe("subject\r\nResults: 5-2\r\n");
  });
});

describe("toXml", () => {
  it("is well-formed whatever the text holds, one element per row", () => {
    const hostile = `<a href="x">&amp;</a> ' \u0000\u0001\u001f \uD800 ]]> 😀`;
    const xml = toXml(
      "messages",
      "message",
      [{ subject: hostile, to: ["x@y"], n: 1 }, { subject: "" }],
      'c"<1>',
    );
    expect(XMLValidator.validate(xml)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false, parseTagValue: false }).parse(xml);
    expect(parsed.messages["@_nextCursor"]).toBe('c"<1>');
    expect(parsed.messages.message).toHaveLength(2);
    expect(parsed.messages.message[0].subject).toBe(
      `<a href="x">&amp;</a> ' \uFFFD\uFFFD\uFFFD \uFFFD ]]> 😀`,
    );
    expect(parsed.messages.message[0].to.item).toBe("x@y");
  });
  it("escapes the five XML specials", () => {
    expect(xmlText(`<>&"'`)).toBe("&lt;&gt;&amp;&quot;&apos;");
  });
});

describe("mergePatch (RFC 7396)", () => {
  it("merges objects, replaces arrays and scalars, and removes on null", () => {
    expect(
      mergePatch(
        { a: 1, o: { x: 1, y: 2 }, list: [1, 2], gone: true },
        { o: { y: 3, z: 4 }, list: [9], gone: null },
      ),
    ).toEqual({ a: 1, o: { x: 1, y: 3, z: 4 }, list: [9] });
    expect(mergePatch({ a: 1 }, "text")).toBe("text");
  });
});
