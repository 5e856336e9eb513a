import { parse as parseCsv } from "csv-parse/sync";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { simpleParser } from "mailparser";
import { createTransport } from "nodemailer";
import { describe, expect, it } from "vitest";
import { startRelayWithSink } from "../support/relay-with-sink.js";

const READER =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

describe("a message's life: SMTP → sink → pixel and click → API", () => {
  it("tracks the open, the click and the unsubscribe of a delivered copy, and reports them in three formats", async () => {
    const { relay, sink, trackingBase } = await startRelayWithSink([
      { name: "shop", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@shop.test"] },
    ]);

    const smtp = relay.intake.addresses[0] as { port: number };
    const sent = await createTransport({
      host: "127.0.0.1",
      port: smtp.port,
      secure: false,
      ignoreTLS: true,
    }).sendMail({
      envelope: { from: "news@shop.test", to: ["reader@isp.test"] },
      raw: [
        "From: Shop <news@shop.test>",
        "To: reader@isp.test",
        "Subject: Spring sale",
        "X-Relay-Group: spring",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<html><body><p>Hello</p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a></body></html>',
        "",
      ].join("\r\n"),
    });
    const id = /queued as (\S+)/.exec(sent.response)?.[1] ?? "";
    expect(id).not.toBe("");

    const [copy] = await sink.waitForMessages(1, 15_000);
    const parsed = await simpleParser(copy?.raw ?? Buffer.alloc(0));
    const html = String(parsed.html);
    const base = trackingBase;
    const pixel = new RegExp(`${base}/o/[A-Za-z0-9_-]+\\.gif`).exec(html)?.[0];
    const link = new RegExp(`${base}/c/[A-Za-z0-9_-]+`).exec(html)?.[0];
    const unsubscribe = /^List-Unsubscribe: <([^>]+\/u\/[A-Za-z0-9_-]+)>/m.exec(
      copy?.raw.toString() ?? "",
    )?.[1];
    if (!pixel || !link || !unsubscribe)
      throw new Error(`tracking URLs missing from the copy:\n${copy?.raw.toString()}`);
    expect(copy?.raw.toString()).toContain("List-Unsubscribe-Post: List-Unsubscribe=One-Click");

    const gif = await fetch(pixel ?? "", { headers: { "user-agent": READER } });
    expect(gif.headers.get("content-type")).toBe("image/gif");
    await fetch(pixel ?? "", { headers: { "user-agent": "Mozilla/5.0" } }); // Apple MPP's prefetch
    const click = await fetch(`${link}?url=https://evil.example`, {
      redirect: "manual",
      headers: { "user-agent": READER },
    });
    expect(click.status).toBe(302);
    expect(click.headers.get("location")).toBe("https://shop.example/sale?a=1&b=2");
    // A scanner's GET does nothing; the mail client's one-click POST unsubscribes.
    expect((await fetch(unsubscribe ?? "")).status).toBe(200);
    const post = await fetch(unsubscribe ?? "", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    expect(post.status).toBe(200);

    const api = `http://127.0.0.1:${relay.apiAddress.port}`;
    const auth = { authorization: `Bearer ${relay.apiToken}` };
    const message = (await (await fetch(`${api}/v1/messages/${id}`, { headers: auth })).json()) as {
      group: string;
      subject: string;
      recipients: { address: string; status: string; attempts: { outcome: string }[] }[];
      events: { type: string; bot?: boolean }[];
    };
    expect(message).toMatchObject({ subject: "Spring sale", group: "spring" });
    expect(message.recipients).toEqual([
      expect.objectContaining({
        address: "reader@isp.test",
        status: "delivered",
        attempts: [expect.objectContaining({ outcome: "delivered" })],
      }),
    ]);
    expect(message.events.map((e) => `${e.type}${e.bot ? " (bot)" : ""}`)).toEqual([
      "delivered",
      "open",
      "open (bot)",
      "click",
      "unsubscribe",
    ]);
    const suppressed = await fetch(`${api}/v1/accounts/shop/suppressions/unsubscribes/reader@isp.test`, {
      headers: auth,
    });
    expect(suppressed.status).toBe(200);

    const stats = (await (await fetch(`${api}/v1/messages/${id}/stats`, { headers: auth })).json()) as Record<
      string,
      number
    >;
    expect(stats).toEqual({
      recipients: 1,
      delivered: 1,
      deferred: 0,
      bounced: 0,
      opens: 1,
      uniqueOpens: 1,
      clicks: 1,
      uniqueClicks: 1,
      unsubscribes: 1,
      complaints: 0,
      botOpens: 1,
      botClicks: 0,
    });
    const csv = await (await fetch(`${api}/v1/messages/${id}/stats?format=csv`, { headers: auth })).text();
    const [csvRow] = parseCsv(csv, { columns: true }) as Record<string, string>[];
    expect(Object.fromEntries(Object.entries(csvRow ?? {}).map(([k, v]) => [k, Number(v)]))).toEqual(stats);
    const xml = await (
      await fetch(`${api}/v1/messages/${id}/stats`, { headers: { ...auth, accept: "application/xml" } })
    ).text();
    expect(XMLValidator.validate(xml)).toBe(true);
    const xmlRow = new XMLParser().parse(xml).stats.stats as Record<string, number>;
    expect(xmlRow).toEqual(stats);

    const group = (await (
      await fetch(`${api}/v1/accounts/shop/groups/spring/stats`, { headers: auth })
    ).json()) as Record<string, number>;
    expect(group).toEqual(stats);
    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsAddress.port}/metrics`)).text();
    expect(metrics).toContain('relayfleet_tracking_events_total{type="open"} 2');
    expect(metrics).toContain('relayfleet_tracking_events_total{type="click"} 1');
    expect(metrics).toMatch(
      /relayfleet_api_requests_total\{route="\/v1\/messages\/:id\/stats",status="200"\} 3/,
    );
  });
});
