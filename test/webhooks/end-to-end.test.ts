import { parse as parseCsv } from "csv-parse/sync";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { simpleParser } from "mailparser";
import { createTransport } from "nodemailer";
import { describe, expect, it } from "vitest";
import { SIGNATURE_HEADER, verifySignature } from "../../relay/webhooks/index.js";
import { startRelayWithSink } from "../support/relay-with-sink.js";
import { startReceiver } from "./receiver.js";

async function startTestRelay(allowPrivateTargets: string[]) {
  const { relay, sink, trackingBase } = await startRelayWithSink(
    [{ name: "shop", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@shop.test"] }],
    { webhooks: { allowPrivateTargets } },
  );
  const api = `http://127.0.0.1:${relay.apiAddress.port}`;
  const call = async (method: string, path: string, body?: unknown, accept?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${relay.apiToken}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (accept) headers.accept = accept;
    const response = await fetch(`${api}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, text, json: () => JSON.parse(text) };
  };
  return { relay, sink, call, trackingBase };
}

describe("webhooks through a relay", () => {
  it("registers over the API, then POSTs the delivered and open events of a message, signed", async () => {
    const { relay, sink, call, trackingBase } = await startTestRelay(["127.0.0.0/8"]);
    const receiver = await startReceiver();

    const created = await call("POST", "/v1/accounts/shop/webhooks", {
      url: receiver.url,
      events: ["delivered", "open"],
    });
    expect(created.status).toBe(201);
    const hook = created.json() as {
      id: string;
      secret: string;
      url: string;
      events: string[];
      active: boolean;
    };
    expect(hook).toMatchObject({ url: receiver.url, events: ["delivered", "open"], active: true });
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);

    // The secret is never shown again, in any format.
    const listed = await call("GET", "/v1/accounts/shop/webhooks");
    expect(listed.json()).toEqual({
      items: [
        {
          id: hook.id,
          account: "shop",
          url: receiver.url,
          events: ["delivered", "open"],
          active: true,
          createdAt: expect.any(Number),
        },
      ],
    });
    const csv = await call("GET", "/v1/accounts/shop/webhooks?format=csv");
    expect(csv.text).not.toContain(hook.secret);
    expect(parseCsv(csv.text, { columns: true })).toEqual([
      expect.objectContaining({
        id: hook.id,
        url: receiver.url,
        events: '["delivered","open"]',
        active: "true",
      }),
    ]);
    const xml = await call("GET", "/v1/accounts/shop/webhooks", undefined, "application/xml");
    expect(XMLValidator.validate(xml.text)).toBe(true);
    expect(xml.text).not.toContain(hook.secret);
    expect(new XMLParser().parse(xml.text).webhooks.webhook).toMatchObject({
      id: hook.id,
      url: receiver.url,
    });

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
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        "<html><body><p>Hello</p></body></html>",
        "",
      ].join("\r\n"),
    });
    const messageId = /queued as (\S+)/.exec(sent.response)?.[1] ?? "";
    const [copy] = await sink.waitForMessages(1, 15_000);
    const html = String((await simpleParser(copy?.raw ?? Buffer.alloc(0))).html);
    const pixel = new RegExp(`${trackingBase}/o/[A-Za-z0-9_-]+\\.gif`).exec(html)?.[0];
    if (!pixel) throw new Error(`no pixel in the delivered copy:\n${html}`);
    await receiver.waitFor(1, 10_000); // the delivered event
    expect(
      (await fetch(pixel, { headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" } }))
        .status,
    ).toBe(200);

    const posts = await receiver.waitFor(2, 10_000);
    const events = posts.map((post) => {
      expect(verifySignature(String(post.headers[SIGNATURE_HEADER]), hook.secret, post.body)).toMatchObject({
        valid: true,
      });
      expect(verifySignature(String(post.headers[SIGNATURE_HEADER]), "whsec_wrong", post.body).valid).toBe(
        false,
      );
      return JSON.parse(post.body) as Record<string, unknown>;
    });
    expect(events).toEqual([
      expect.objectContaining({
        type: "delivered",
        account: "shop",
        messageId,
        recipient: "reader@isp.test",
      }),
      expect.objectContaining({
        type: "open",
        account: "shop",
        messageId,
        recipient: "reader@isp.test",
        unique: true,
      }),
    ]);

    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsAddress.port}/metrics`)).text();
    expect(metrics).toContain('relayfleet_webhook_deliveries_total{result="delivered"} 2');

    expect((await call("DELETE", `/v1/accounts/shop/webhooks/${hook.id}`)).status).toBe(204);
    expect((await call("DELETE", `/v1/accounts/shop/webhooks/${hook.id}`)).status).toBe(404);
    expect((await call("GET", "/v1/accounts/shop/webhooks")).json()).toEqual({ items: [] });
  }, 30_000);

  it("answers 400 naming the field for a bad body, and refuses private targets the relay does not allow", async () => {
    const { call } = await startTestRelay([]);
    const cases: [unknown, string][] = [
      [{ url: "ftp://hooks.example.org/in", events: ["open"] }, "url"],
      [{ url: "https://hooks.example.org/in", events: [] }, "events"],
      [{ url: "https://hooks.example.org/in", events: ["opened"] }, "events.0"],
      [{ url: "https://hooks.example.org/in", events: ["open"], secret: "mine" }, "(body)"],
      [{ events: ["open"] }, "url"],
      [{ url: "http://127.0.0.1:9/in", events: ["open"] }, "url"],
      [{ url: "http://169.254.169.254/latest", events: ["open"] }, "url"],
    ];
    for (const [body, field] of cases) {
      const answer = await call("POST", "/v1/accounts/shop/webhooks", body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect((answer.json() as { issues: { field: string }[] }).issues.map((i) => i.field)).toContain(field);
    }
    expect(
      (await call("POST", "/v1/accounts/nobody/webhooks", { url: "https://h.example/", events: ["open"] }))
        .status,
    ).toBe(404);
    // A public name is accepted at registration; where it resolves is checked at every send.
    expect(
      (
        await call("POST", "/v1/accounts/shop/webhooks", {
          url: "https://hooks.example.org/in",
          events: ["open"],
        })
      ).status,
    ).toBe(201);
  }, 30_000);
});
