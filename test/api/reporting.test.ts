/**
 * Reporting calls over real HTTP and a real store: the SMTP log with filters and
 * cursors, one message, stats, suppressions, errors and reports, each list in
 * JSON, CSV and XML, CSV read back by csv-parse and XML by fast-xml-parser;
 * then every answer checked against the served OpenAPI document with ajv.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse as parseCsv } from "csv-parse/sync";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import type { NewMessage } from "../../relay/vocabulary.js";
import type { StoreKind } from "../tracking/fixture.js";
import { type ApiClient, type Exchange, startApi } from "./fixture.js";

const HOUR = 3_600_000;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;

async function seed(api: ApiClient, count: number): Promise<NewMessage[]> {
  await api.call("PUT", "/v1/accounts/acme", { body: {} });
  const messages: NewMessage[] = [];
  for (let i = 0; i < count; i++) {
    const message: NewMessage = {
      id: `MSG${String(i).padStart(3, "0")}`,
      account: "acme",
      from: "news@acme.example",
      recipients: [`r${i}@example.org`, i % 2 === 0 ? "shared@gmail.com" : `x${i}@example.net`],
      subject: i === 0 ? 'Hello, "world"\r\nline two; <b>&amp;</b>\u0001' : `Message ${i}`,
      size: 1000 + i,
      acceptedAt: T0 + i * 60_000,
      ...(i % 3 === 0 ? { group: "weekly" } : {}),
    };
    await api.store.recordMessage(message);
    messages.push(message);
  }
  return messages;
}

type Page = { items: Record<string, unknown>[]; nextCursor?: string };

async function pageAll(api: ApiClient, path: string): Promise<Page["items"]> {
  const items: Page["items"] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 50; guard++) {
    const separator = path.includes("?") ? "&" : "?";
    const response = await api.call(
      "GET",
      `${path}${cursor ? `${separator}cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    expect(response.status).toBe(200);
    const page = response.json() as Page;
    items.push(...page.items);
    expect(response.headers.get("x-next-cursor") ?? undefined).toBe(page.nextCursor);
    if (!page.nextCursor) return items;
    cursor = page.nextCursor;
  }
  throw new Error("paging did not end");
}

/** The JSON rows as CSV would write them: nested objects dotted, arrays as JSON, everything text. */
function asCsvRecord(row: Record<string, unknown>, prefix = "", out: Record<string, string> = {}) {
  for (const [key, value] of Object.entries(row)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) out[name] = JSON.stringify(value);
    else if (value && typeof value === "object") asCsvRecord(value as Record<string, unknown>, name, out);
    else out[name] = value === undefined || value === null ? "" : String(value);
  }
  return out;
}

const xmlParser = new XMLParser({
  parseTagValue: false,
  ignoreAttributes: false,
  isArray: (name) => name === "item",
});

/** Fetches one call in all three formats and checks CSV and XML say what JSON says. */
async function inThreeFormats(api: ApiClient, path: string, root: string, row: string) {
  const json = await api.call("GET", path);
  expect(json.status).toBe(200);
  expect(json.headers.get("content-type")).toMatch(/^application\/json/);
  const body = json.json() as Page | Record<string, unknown>;
  const rows = ("items" in body ? body.items : [body]) as Record<string, unknown>[];

  const separator = path.includes("?") ? "&" : "?";
  const csv = await api.call("GET", `${path}${separator}format=csv`);
  expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
  const records = parseCsv(csv.text, { columns: true, relax_column_count: false, bom: false }) as Record<
    string,
    string
  >[];
  expect(records).toHaveLength(rows.length);
  records.forEach((record, i) => {
    const expected = asCsvRecord(rows[i] as Record<string, unknown>);
    for (const [key, value] of Object.entries(expected))
      expect(record[key], `${path} row ${i} ${key}`).toBe(value);
  });
  expect(csv.text.endsWith("\r\n")).toBe(true);

  const xml = await api.call("GET", path, { headers: { accept: "application/xml" } });
  expect(xml.headers.get("content-type")).toMatch(/^application\/xml/);
  expect(XMLValidator.validate(xml.text)).toBe(true);
  const parsed = xmlParser.parse(xml.text) as Record<string, Record<string, unknown>>;
  const rowsXml = parsed[root]?.[row];
  const list = (rowsXml === undefined ? [] : Array.isArray(rowsXml) ? rowsXml : [rowsXml]) as Record<
    string,
    unknown
  >[];
  expect(list).toHaveLength(rows.length);
  return { json: body, rows, csv: records, xml: list, xmlText: xml.text };
}

/** Scalars of a JSON row compared with the parsed XML row (text), recursing into objects and arrays. */
function expectXmlMatches(xml: unknown, json: unknown, where: string): void {
  if (Array.isArray(json)) {
    // An empty list is an empty element, which the parser reads as "".
    const items = (xml && typeof xml === "object" ? (xml as { item?: unknown[] }).item : undefined) ?? [];
    expect(items, where).toHaveLength(json.length);
    json.forEach((value, i) => {
      expectXmlMatches(items[i], value, `${where}[${i}]`);
    });
  } else if (json && typeof json === "object") {
    for (const [key, value] of Object.entries(json)) {
      expectXmlMatches((xml as Record<string, unknown>)[key], value, `${where}.${key}`);
    }
  } else {
    expect(xml, where).toBe(String(json));
  }
}

describe.each<StoreKind>(["local", "redis"])("reporting API (%s store)", (kind) => {
  it("pages the SMTP log with filters, and the pages join up without gaps or repeats", async () => {
    const api = await startApi(kind);
    const messages = await seed(api, 23);
    const all = await pageAll(api, "/v1/accounts/acme/messages?limit=5");
    expect(all.map((m) => m.id)).toEqual(messages.map((m) => m.id).reverse());

    const weekly = await pageAll(api, "/v1/accounts/acme/messages?group=weekly&limit=3");
    expect(weekly.map((m) => m.id)).toEqual(
      messages
        .filter((m) => m.group === "weekly")
        .map((m) => m.id)
        .reverse(),
    );
    const toShared = await pageAll(api, "/v1/accounts/acme/messages?rcpt=SHARED@gmail.com");
    expect(toShared).toHaveLength(12);
    const since = new Date(T0 + 20 * 60_000).toISOString();
    const ranged = await pageAll(api, `/v1/accounts/acme/messages?since=${since}&until=${T0 + 22 * 60_000}`);
    expect(ranged.map((m) => m.id)).toEqual(["MSG021", "MSG020"]);

    await api.store.recordAttempt("MSG004", "r4@example.org", {
      at: T0 + HOUR,
      sender: "out1",
      outcome: "delivered",
      responseCode: 250,
      answer: "250 ok",
    });
    const delivered = await pageAll(api, "/v1/accounts/acme/messages?status=delivered");
    expect(delivered.map((m) => m.id)).toEqual(["MSG004"]);

    for (const [query, field] of [
      ["status=lost", "status"],
      ["limit=5000", "limit"],
      ["limit=abc", "limit"],
      ["since=yesterday", "since"],
      ["rcpt=not-an-address", "rcpt"],
    ]) {
      const response = await api.call("GET", `/v1/accounts/acme/messages?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.json()).toMatchObject({ issues: [{ field }] });
    }
  });

  it("answers one message with recipients, attempts and events, and its stats in three formats", async () => {
    const api = await startApi(kind);
    const [first] = await seed(api, 1);
    const id = first?.id ?? "";
    await api.store.recordAttempt(id, "r0@example.org", {
      at: T0 + 1000,
      sender: "out1",
      outcome: "deferred",
      responseCode: 451,
      answer: "451 try later",
    });
    await api.store.recordAttempt(id, "r0@example.org", {
      at: T0 + 2000,
      sender: "out1",
      outcome: "delivered",
      responseCode: 250,
      answer: "250 ok",
    });
    await api.store.recordEvent({
      type: "open",
      messageId: id,
      recipient: "r0@example.org",
      at: T0 + 3000,
      country: "NL",
    });
    await api.store.recordEvent({
      type: "open",
      messageId: id,
      recipient: "r0@example.org",
      at: T0 + 3001,
      bot: true,
    });
    await api.store.recordEvent({
      type: "click",
      messageId: id,
      recipient: "r0@example.org",
      at: T0 + 4000,
      url: "https://x.example/?a=1,b",
      linkIndex: 0,
    });

    const message = (await api.call("GET", `/v1/messages/${id}`)).json() as {
      recipients: { address: string; status: string; attempts: unknown[] }[];
      events: { type: string }[];
      subject: string;
    };
    expect(message.subject).toBe(first?.subject);
    expect(message.recipients.find((r) => r.address === "r0@example.org")).toMatchObject({
      status: "delivered",
      attempts: [
        expect.objectContaining({ outcome: "deferred" }),
        expect.objectContaining({ outcome: "delivered" }),
      ],
    });
    expect(message.events.map((e) => e.type)).toEqual(["deferred", "delivered", "open", "open", "click"]);
    expect((await api.call("GET", "/v1/messages/NOPE")).status).toBe(404);

    const stats = await inThreeFormats(api, `/v1/messages/${id}/stats`, "stats", "stats");
    expect(stats.json).toMatchObject({
      recipients: 2,
      delivered: 1,
      opens: 1,
      uniqueOpens: 1,
      botOpens: 1,
      clicks: 1,
    });
    expectXmlMatches(stats.xml[0], stats.json, "stats");

    const group = await inThreeFormats(
      api,
      `/v1/accounts/acme/groups/weekly/stats?since=${T0}`,
      "stats",
      "stats",
    );
    expect(group.json).toMatchObject({ recipients: 2, opens: 1, clicks: 1 });
    expect((await api.call("GET", "/v1/accounts/acme/groups/weekly/stats?until=soon")).status).toBe(400);
  });

  it("writes hostile values so CSV and XML parsers read back exactly what JSON says", async () => {
    const api = await startApi(kind);
    await seed(api, 4);
    const listed = await inThreeFormats(api, "/v1/accounts/acme/messages", "messages", "message");
    listed.rows.forEach((row, i) => {
      const { subject, ...rest } = row;
      expectXmlMatches(listed.xml[i], rest, `message ${i}`);
      // XML 1.0 cannot carry U+0001 or a bare CR in text: the control character becomes U+FFFD, CR is normalised.
      const xmlSubject = String(listed.xml[i]?.subject);
      expect(xmlSubject).toBe(String(subject).replace("\u0001", "\uFFFD").replace("\r\n", "\n"));
    });
    expect(listed.csv.at(-1)?.subject).toBe('Hello, "world"\r\nline two; <b>&amp;</b>\u0001');
    expect(listed.xmlText).toContain("&lt;b&gt;&amp;amp;&lt;/b&gt;");
  });

  it("manages suppression lists: add, bulk add, look up, search, page, remove", async () => {
    const api = await startApi(kind);
    await api.call("PUT", "/v1/accounts/acme", { body: {} });
    const one = await api.call("PUT", "/v1/accounts/acme/suppressions/bounces/Someone@Example.org", {
      body: { reason: "5.1.1 user unknown" },
    });
    expect(one.status).toBe(200);
    expect(one.json()).toMatchObject({
      address: "someone@example.org",
      list: "bounces",
      reason: "5.1.1 user unknown",
    });
    expect((await api.call("PUT", "/v1/accounts/acme/suppressions/bounces/someone@example.org")).status).toBe(
      200,
    );
    const bulk = await api.call("PUT", "/v1/accounts/acme/suppressions/unsubscribes", {
      body: { addresses: Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, "0")}@example.net`) },
    });
    expect(bulk.json()).toEqual({ added: 12 });
    const all = await pageAll(api, "/v1/accounts/acme/suppressions/unsubscribes?limit=5");
    expect(all.map((e) => e.address)).toEqual(
      Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, "0")}@example.net`),
    );
    const search = await pageAll(api, "/v1/accounts/acme/suppressions/unsubscribes?search=U1");
    expect(search.map((e) => e.address)).toEqual(["u10@example.net", "u11@example.net"]);
    await inThreeFormats(api, "/v1/accounts/acme/suppressions/unsubscribes", "suppressions", "suppression");

    expect((await api.call("GET", "/v1/accounts/acme/suppressions/bounces/someone@example.org")).status).toBe(
      200,
    );
    expect(
      (await api.call("DELETE", "/v1/accounts/acme/suppressions/bounces/someone@example.org")).status,
    ).toBe(204);
    expect((await api.call("GET", "/v1/accounts/acme/suppressions/bounces/someone@example.org")).status).toBe(
      404,
    );
    expect(
      (await api.call("DELETE", "/v1/accounts/acme/suppressions/bounces/someone@example.org")).status,
    ).toBe(404);

    expect((await api.call("GET", "/v1/accounts/acme/suppressions/spam")).json()).toMatchObject({
      issues: [{ field: "list" }],
    });
    expect((await api.call("PUT", "/v1/accounts/acme/suppressions/bounces/no-at-sign")).json()).toMatchObject(
      {
        issues: [{ field: "address" }],
      },
    );
    const badBulk = await api.call("PUT", "/v1/accounts/acme/suppressions/bounces", {
      body: { addresses: ["ok@example.org", "bad address"] },
    });
    expect(badBulk.json()).toMatchObject({ issues: [{ field: "addresses.1" }] });
  });

  it("lists errors after acceptance and reports by domain, country and hour", async () => {
    const api = await startApi(kind);
    const messages = await seed(api, 2);
    for (let i = 0; i < 3; i++) {
      await api.store.recordError("acme", {
        at: T0 + i,
        code: "suppressed",
        message: `recipient ${i} is on the bounces list`,
        messageId: messages[0]?.id ?? "",
        recipient: `r${i}@example.org`,
        notified: ["ops@acme.example", "news@acme.example"],
      });
    }
    const errors = await pageAll(api, "/v1/accounts/acme/errors?limit=2");
    expect(errors.map((e) => e.recipient)).toEqual(["r2@example.org", "r1@example.org", "r0@example.org"]);
    const errorFormats = await inThreeFormats(api, "/v1/accounts/acme/errors", "errors", "error");
    errorFormats.rows.forEach((row, i) => {
      expectXmlMatches(errorFormats.xml[i], row, `error ${i}`);
    });

    const at = T0 + 9 * HOUR + 5 * 60_000;
    const open = (recipient: string, country: string, messageId = messages[0]?.id ?? "") =>
      api.store.recordEvent({ type: "open", messageId, recipient, at, country });
    await open("shared@gmail.com", "US");
    await open("r0@example.org", "NL");
    await open("r0@example.org", "NL");
    await api.store.recordEvent({
      type: "click",
      messageId: messages[1]?.id ?? "",
      recipient: "r1@example.org",
      at,
    });
    await api.store.recordEvent({
      type: "open",
      messageId: messages[1]?.id ?? "",
      recipient: "x1@example.net",
      at,
      bot: true,
    });

    const domains = await inThreeFormats(api, "/v1/accounts/acme/reports/domains", "report", "row");
    expect(domains.json).toEqual({
      items: [
        { key: "example.org", opens: 2, uniqueOpens: 1, clicks: 1, uniqueClicks: 1 },
        { key: "gmail.com", opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 },
      ],
    });
    domains.rows.forEach((row, i) => {
      expectXmlMatches(domains.xml[i], row, `domain ${i}`);
    });
    const geo = (await api.call("GET", "/v1/accounts/acme/reports/geo")).json() as Page;
    expect(geo.items.map((r) => [r.key, r.opens, r.clicks])).toEqual([
      ["??", 0, 1],
      ["NL", 2, 0],
      ["US", 1, 0],
    ]);
    const timing = (await api.call("GET", `/v1/accounts/acme/reports/timing?since=${T0}`)).json() as Page;
    const hourOfDay = String(new Date(at).getUTCHours()).padStart(2, "0");
    expect(timing.items).toEqual([{ key: hourOfDay, opens: 3, uniqueOpens: 2, clicks: 1, uniqueClicks: 1 }]);
    expect((await api.call("GET", "/v1/accounts/acme/reports/weather")).json()).toMatchObject({
      issues: [{ field: "report" }],
    });
  });
});

describe("format negotiation and the OpenAPI document", () => {
  it("picks the format from ?format=, then Accept by quality, and answers 406 when none fits", async () => {
    const api = await startApi();
    await api.call("PUT", "/v1/accounts/acme", { body: {} });
    const type = async (query: string, accept?: string) =>
      (await api.call("GET", `/v1/accounts${query}`, accept ? { headers: { accept } } : {})).headers.get(
        "content-type",
      );
    expect(await type("")).toMatch(/^application\/json/);
    expect(await type("", "text/csv")).toMatch(/^text\/csv/);
    expect(await type("", "text/xml;q=0.9, text/csv;q=0.5")).toMatch(/^application\/xml/);
    expect(await type("", "text/html, */*;q=0.1")).toMatch(/^application\/json/);
    expect(await type("?format=xml", "text/csv")).toMatch(/^application\/xml/);
    expect((await api.call("GET", "/v1/accounts", { headers: { accept: "image/png" } })).status).toBe(406);
    expect((await api.call("GET", "/v1/accounts?format=pdf")).status).toBe(406);
    const csv = await api.call("GET", "/v1/accounts/acme/groups?format=csv");
    expect(csv.text).toBe("name,createdAt\r\n");
  });

  it("serves an OpenAPI document that lists every call, and every answer seen matches it", async () => {
    const exchanges: Exchange[] = [];
    const api = await startApi("local", exchanges);
    // A tour of the API: every route at least once.
    const key = (await (async () => {
      await api.call("PUT", "/v1/accounts/acme", {
        body: { credentials: [{ username: "u", password: "p" }] },
      });
      return (await api.call("POST", "/v1/accounts/acme/keys")).json() as { key: string; id: string };
    })()) as { key: string; id: string };
    await seed(api, 3);
    await api.store.recordError("acme", { at: T0, code: "over_limit", message: "m", notified: [] });
    await api.store.recordEvent({
      type: "open",
      messageId: "MSG000",
      recipient: "r0@example.org",
      at: T0,
      ip: "1.2.3.4",
    });
    await api.call("GET", "/v1/accounts");
    await api.call("GET", "/v1/accounts/acme");
    await api.call("PATCH", "/v1/accounts/acme", { body: { limits: { perHour: 5 } } });
    await api.call("POST", "/v1/accounts/acme/groups", { body: { name: "weekly" } });
    await api.call("GET", "/v1/accounts/acme/groups");
    await api.call("GET", "/v1/accounts/acme/messages?limit=2");
    await api.call("GET", "/v1/messages/MSG000");
    await api.call("GET", "/v1/messages/MSG000/stats");
    await api.call("GET", "/v1/accounts/acme/groups/weekly/stats");
    await api.call("PUT", "/v1/accounts/acme/suppressions/bounces/a@example.org", { body: { reason: "r" } });
    await api.call("PUT", "/v1/accounts/acme/suppressions/bounces", {
      body: { addresses: ["b@example.org"] },
    });
    await api.call("GET", "/v1/accounts/acme/suppressions/bounces");
    await api.call("GET", "/v1/accounts/acme/suppressions/bounces/a@example.org");
    await api.call("DELETE", "/v1/accounts/acme/suppressions/bounces/a@example.org");
    await api.call("GET", "/v1/accounts/acme/errors");
    const webhook = (
      await api.call("POST", "/v1/accounts/acme/webhooks", {
        body: { url: "https://hooks.example.org/in", events: ["open", "click"] },
      })
    ).json() as { id: string };
    await api.call("GET", "/v1/accounts/acme/webhooks");
    await api.call("DELETE", `/v1/accounts/acme/webhooks/${webhook.id}`);
    for (const report of ["domains", "geo", "timing"])
      await api.call("GET", `/v1/accounts/acme/reports/${report}`);
    await api.call("PUT", "/v1/accounts/acme", { body: { limits: { perHour: -1 } } });
    await api.call("GET", "/v1/accounts/acme", { token: null });
    expect((await api.call("GET", "/v1/admin/quarantine")).json()).toEqual({ items: [] });
    expect((await api.call("POST", "/v1/admin/quarantine/00000000000000000000000/release")).status).toBe(404);
    expect((await api.call("GET", "/v1/admin/quarantine", { token: key.key })).status).toBe(403);
    await api.call("DELETE", `/v1/accounts/acme/keys/${key.id}`);
    await api.call("PUT", "/v1/accounts/other", { body: {} });
    await api.call("DELETE", "/v1/accounts/other");

    const documentResponse = await fetch(`${api.base}/v1/openapi.json`);
    expect(documentResponse.status).toBe(200);
    const document = (await documentResponse.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>
      >;
    };
    expect(document.openapi).toBe("3.1.0");
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const templates = Object.keys(document.paths).map((path) => ({
      path,
      regex: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
    }));
    const seen = new Set<string>();
    for (const exchange of exchanges) {
      if (!exchange.contentType.startsWith("application/json")) continue;
      const template = templates.find((t) => t.regex.test(exchange.path));
      expect(template, exchange.path).toBeDefined();
      const operation = document.paths[template?.path ?? ""]?.[exchange.method.toLowerCase()];
      expect(operation, `${exchange.method} ${exchange.path}`).toBeDefined();
      seen.add(`${exchange.method} ${template?.path}`);
      const schema = operation?.responses[String(exchange.status)]?.content?.["application/json"]?.schema;
      expect(schema, `${exchange.method} ${exchange.path} ${exchange.status}`).toBeDefined();
      const validate = ajv.compile(schema as object);
      const valid = validate(JSON.parse(exchange.body));
      expect(validate.errors ?? [], `${exchange.method} ${exchange.path} ${exchange.status}`).toEqual([]);
      expect(valid).toBe(true);
    }
    // Every documented operation was exercised (204s have no JSON body, so they are counted by status).
    for (const exchange of exchanges.filter((e) => e.status === 204)) {
      const template = templates.find((t) => t.regex.test(exchange.path));
      seen.add(`${exchange.method} ${template?.path}`);
    }
    const documented = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...seen].sort()).toEqual(documented.sort());
  });
});
