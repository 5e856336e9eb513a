/**
 * The tracking server over real HTTP and a real store (both adapters):
 * pixel, click redirect, unsubscribe page and POST, bot flags, and the hostile
 * inputs of HOSTILE-INPUTS rows 18-20.
 */
import { describe, expect, it } from "vitest";
import { makeKeyring, signToken } from "../../relay/tracking/token.js";
import { newKey, type StoreKind, startTrackingFixture } from "./fixture.js";

const READER_UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

function get(url: string, headers: Record<string, string> = {}, method = "GET") {
  return fetch(url, { method, headers: { "user-agent": READER_UA, ...headers }, redirect: "manual" });
}

function oneClick(url: string, body = "List-Unsubscribe=One-Click") {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": READER_UA },
    body,
    redirect: "manual",
  });
}

/** Flips one bit of the decoded token and re-encodes it canonically. */
function flipBit(token: string, bit: number): string {
  const raw = Buffer.from(token, "base64url");
  raw[bit >> 3] = (raw[bit >> 3] as number) ^ (1 << (bit & 7));
  return raw.toString("base64url");
}

describe.each<StoreKind>(["local", "redis"])("tracking server (%s store)", (storeKind) => {
  it("serves a real, uncached 1x1 GIF for the pixel and records the open with IP and user agent", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const token = t.sign({ kind: "open", recipient: "reader@example.org" });
    const response = await get(`${t.base}/o/${token}.gif`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/gif");
    expect(response.headers.get("cache-control")).toContain("no-store");
    expect(response.headers.get("cache-control")).toContain("no-cache");
    const gif = Buffer.from(await response.arrayBuffer());
    expect(gif.subarray(0, 6).toString("ascii")).toBe("GIF89a");
    expect([gif.readUInt16LE(6), gif.readUInt16LE(8)]).toEqual([1, 1]);
    expect(gif.at(-1)).toBe(0x3b); // trailer

    const record = await t.store.getMessage(t.message.id);
    const open = record?.events.find((e) => e.type === "open");
    expect(open).toMatchObject({ recipient: "reader@example.org", userAgent: READER_UA, bot: false });
    expect(open?.ip).toMatch(/127\.0\.0\.1$/);
    expect(Math.abs((open?.at ?? 0) - Date.now())).toBeLessThan(10_000);
    expect(await t.store.getMessageStats(t.message.id)).toMatchObject({
      opens: 1,
      uniqueOpens: 1,
      botOpens: 0,
    });
    expect((await t.metrics.trackingEvents.get()).values).toEqual([
      expect.objectContaining({ labels: { type: "open" }, value: 1 }),
    ]);
  });

  it("flags Apple MPP, Gmail's image proxy, scanners and HEAD requests as bots and keeps them out of opens", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const url = `${t.base}/o/${t.sign({ kind: "open", recipient: "reader@example.org" })}.gif`;
    for (const ua of [
      "Mozilla/5.0",
      "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
      "Mozilla/5.0 (compatible; Barracuda Sentinel)",
      "python-requests/2.31",
    ]) {
      expect((await get(url, { "user-agent": ua })).status).toBe(200);
    }
    expect((await get(url, {}, "HEAD")).status).toBe(200);
    const stats = await t.store.getMessageStats(t.message.id);
    expect(stats).toMatchObject({ opens: 0, uniqueOpens: 0, botOpens: 5 });
    const details = (await t.store.getMessage(t.message.id))?.events.map((e) => e.detail);
    expect(details).toEqual([
      "bot: apple-mpp",
      "bot: gmail-image-proxy",
      "bot: link-scanner",
      "bot: automated-client",
      "bot: head-request",
    ]);
  });

  it("redirects a click only to the signed URL, whatever the query says, and records it", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const signed = "https://shop.example.com/spring?utm=mail&x=1";
    const token = t.sign({ kind: "click", recipient: "reader@example.org", linkIndex: 2, url: signed });
    for (const suffix of [
      "",
      "?url=https://evil.example",
      "?redirect=//evil.example&url=javascript:alert(1)",
    ]) {
      const response = await get(`${t.base}/c/${token}${suffix}`);
      expect(response.status).toBe(302);
      expect(response.headers.get("location")).toBe(signed);
      expect(response.headers.get("cache-control")).toContain("no-store");
    }
    const clicks = (await t.store.getMessage(t.message.id))?.events.filter((e) => e.type === "click");
    expect(clicks).toHaveLength(3);
    expect(clicks?.[0]).toMatchObject({ url: signed, linkIndex: 2, bot: false });
    expect(await t.store.getMessageStats(t.message.id)).toMatchObject({ clicks: 3, uniqueClicks: 1 });
  });

  it("answers 404 to tampered, truncated, re-spelled, wrong-kind and unknown-key tokens, never redirecting", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const click = t.sign({
      kind: "click",
      recipient: "reader@example.org",
      linkIndex: 0,
      url: "https://ok.example/",
    });
    const open = t.sign({ kind: "open", recipient: "reader@example.org" });
    const bits = Buffer.from(click, "base64url").length * 8;
    const bad = [
      ...Array.from({ length: 40 }, (_, i) => flipBit(click, Math.floor((i * bits) / 40))),
      click.slice(0, -1),
      click.slice(0, 20),
      `${click}A`,
      open, // an open token on the click path
      signToken(makeKeyring(newKey("k1")), {
        kind: "click",
        messageId: t.message.id,
        recipient: "reader@example.org",
        linkIndex: 0,
        url: "https://evil.example/",
      }), // same key id, another secret
      signToken(makeKeyring(newKey("k9")), {
        kind: "click",
        messageId: t.message.id,
        recipient: "reader@example.org",
        linkIndex: 0,
        url: "https://evil.example/",
      }),
      "not-a-token",
      "..%2f..%2fevil",
    ];
    for (const token of bad) {
      const response = await get(`${t.base}/c/${token}?url=https://evil.example`);
      expect(response.status, token).toBe(404);
      expect(response.headers.get("location")).toBeNull();
    }
    expect((await get(`${t.base}/o/${click}.gif`)).status).toBe(404);
    expect((await get(`${t.base}/u/${open}`)).status).toBe(404);
    expect((await get(`${t.base}/o/${open}`)).status).toBe(404); // the pixel path needs .gif
    expect((await t.store.getMessage(t.message.id))?.events).toEqual([]);
  });

  it("refuses to redirect to a signed URL that is not http(s)", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    for (const url of [
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "//evil.example/",
    ]) {
      const token = t.sign({ kind: "click", recipient: "reader@example.org", linkIndex: 0, url });
      const response = await get(`${t.base}/c/${token}`);
      expect(response.status).toBe(404);
      expect(response.headers.get("location")).toBeNull();
    }
  });

  it("keeps tokens signed with a rotated-out key working while that key is listed", async () => {
    const old = newKey("k1");
    const current = newKey("k2");
    const t = await startTrackingFixture({ store: storeKind, keys: makeKeyring(current, [old]) });
    const url = "https://shop.example.com/";
    const claims = {
      kind: "click" as const,
      messageId: t.message.id,
      recipient: "reader@example.org",
      linkIndex: 0,
      url,
    };
    const oldToken = signToken(makeKeyring(old), claims);
    expect((await get(`${t.base}/c/${oldToken}`)).headers.get("location")).toBe(url);
    expect((await get(`${t.base}/c/${signToken(t.keys, claims)}`)).headers.get("location")).toBe(url);
  });

  it("shows a confirm page on GET and never unsubscribes on GET or HEAD, however often scanners fetch it", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const token = t.sign({ kind: "unsub", recipient: "reader@example.org" });
    for (const ua of [READER_UA, "Mozilla/5.0 (compatible; Microsoft SafeLinks)", ""]) {
      const response = await get(`${t.base}/u/${token}`, { "user-agent": ua });
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain('<form method="post"');
      expect(html).toContain(`action="/u/${token}"`);
      expect(html).toContain("reader@example.org");
    }
    expect((await get(`${t.base}/u/${token}`, {}, "HEAD")).status).toBe(200);
    expect(await t.store.getSuppression("acme", "unsubscribes", "reader@example.org")).toBeUndefined();
    expect(await t.store.getMessageStats(t.message.id)).toMatchObject({ unsubscribes: 0 });
  });

  it("unsubscribes on the RFC 8058 one-click POST, idempotently", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const token = t.sign({ kind: "unsub", recipient: "Reader@Example.org" });
    for (let i = 0; i < 3; i++) {
      const response = await oneClick(`${t.base}/u/${token}`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain("You are unsubscribed");
    }
    const entry = await t.store.getSuppression("acme", "unsubscribes", "reader@example.org");
    expect(entry).toMatchObject({
      address: "reader@example.org",
      messageId: t.message.id,
      reason: "one-click (RFC 8058)",
    });
    const events = (await t.store.getMessage(t.message.id))?.events.filter((e) => e.type === "unsubscribe");
    expect(events).toHaveLength(1);
    expect(await t.store.getMessageStats(t.message.id)).toMatchObject({ unsubscribes: 1 });
    // The page now says so instead of offering the button again.
    const page = await (await get(`${t.base}/u/${token}`)).text();
    expect(page).toContain("already off this list");
    expect(page).not.toContain("<form");
  });

  it("unsubscribes through the page's button, and says which way it came", async () => {
    const t = await startTrackingFixture({ store: storeKind });
    const token = t.sign({ kind: "unsub", recipient: "other@example.net" });
    const response = await oneClick(`${t.base}/u/${token}`, "List-Unsubscribe=One-Click&via=page");
    expect(response.status).toBe(200);
    expect(await t.store.getSuppression("acme", "unsubscribes", "other@example.net")).toMatchObject({
      reason: "unsubscribe page",
    });
    expect(await t.store.getSuppression("acme", "unsubscribes", "reader@example.org")).toBeUndefined();
  });
});

describe("tracking server: hostile values, client address, failures", () => {
  it("never reflects a hostile subject, sender or address unescaped on the unsubscribe page", async () => {
    const xss = `<script>alert("s")</script><img src=x onerror=alert(1)>`;
    const t = await startTrackingFixture({
      message: {
        subject: `Hi ${xss}`,
        from: `"><svg onload=alert(2)>@evil.example`,
        recipients: [`a${xss}@x.example`],
      },
    });
    const token = t.sign({ kind: "unsub", recipient: `a${xss}@x.example` });
    const response = await get(`${t.base}/u/${token}`, { "user-agent": `<script>alert("ua")</script>` });
    const html = await response.text();
    // Every "<" that came from outside is an entity: no tag, so no attribute can run.
    expect(html).not.toMatch(/<script|<img|<svg/i);
    expect(
      html
        .match(/<[a-z][a-z0-9]*/gi)
        ?.filter((tag) => !/^<(html|head|meta|title|style|body|h1|p|strong|form|input|button)$/i.test(tag)),
    ).toEqual([]);
    expect(html).toContain("&#60;script&#62;alert(&#34;s&#34;)&#60;/script&#62;");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("believes X-Forwarded-For only from a trusted proxy, and finds the country offline", async () => {
    const untrusted = await startTrackingFixture();
    const token = untrusted.sign({ kind: "open", recipient: "reader@example.org" });
    await get(`${untrusted.base}/o/${token}.gif`, { "x-forwarded-for": "81.2.69.160" });
    const [spoofed] = (await untrusted.store.getMessage(untrusted.message.id))?.events ?? [];
    expect(spoofed?.ip).toMatch(/127\.0\.0\.1$/);
    expect(spoofed?.country).toBeUndefined();

    const proxied = await startTrackingFixture({ deps: { trustForwardedFrom: ["127.0.0.0/8"] } });
    const url = `${proxied.base}/o/${proxied.sign({ kind: "open", recipient: "reader@example.org" })}.gif`;
    await get(url, { "x-forwarded-for": "203.0.113.9, 81.2.69.160, 127.0.0.5" });
    await get(url, { "x-forwarded-for": "8.8.8.8" });
    const events = (await proxied.store.getMessage(proxied.message.id))?.events ?? [];
    expect(events.map((e) => [e.ip, e.country])).toEqual([
      ["81.2.69.160", "GB"],
      ["8.8.8.8", "US"],
    ]);
    expect(await proxied.store.getReport("acme", "country")).toEqual([
      expect.objectContaining({ key: "GB", opens: 1 }),
      expect.objectContaining({ key: "US", opens: 1 }),
    ]);
  });

  it("still serves the pixel and the redirect when the store is down, but never fakes an unsubscribe", async () => {
    const t = await startTrackingFixture();
    const open = t.sign({ kind: "open", recipient: "reader@example.org" });
    const click = t.sign({
      kind: "click",
      recipient: "reader@example.org",
      linkIndex: 0,
      url: "https://ok.example/",
    });
    const unsub = t.sign({ kind: "unsub", recipient: "reader@example.org" });
    await t.store.close();
    expect((await get(`${t.base}/o/${open}.gif`)).status).toBe(200);
    expect((await get(`${t.base}/c/${click}`)).headers.get("location")).toBe("https://ok.example/");
    const response = await oneClick(`${t.base}/u/${unsub}`);
    expect(response.status).toBe(503);
    expect(await response.text()).not.toContain("unsubscribed");
  });

  it("answers a token for a message past retention: pixel and link work, unsubscribe says expired", async () => {
    const t = await startTrackingFixture();
    const claims = { messageId: "GONE", recipient: "reader@example.org" };
    expect((await get(`${t.base}/o/${signToken(t.keys, { kind: "open", ...claims })}.gif`)).status).toBe(200);
    const click = signToken(t.keys, { kind: "click", ...claims, linkIndex: 0, url: "https://ok.example/" });
    expect((await get(`${t.base}/c/${click}`)).status).toBe(302);
    const unsub = signToken(t.keys, { kind: "unsub", ...claims });
    expect((await get(`${t.base}/u/${unsub}`)).status).toBe(410);
    expect((await oneClick(`${t.base}/u/${unsub}`)).status).toBe(410);
    expect((await t.metrics.trackingEvents.get()).values).toEqual([]);
  });

  it("refuses other methods, oversized unsubscribe bodies and unknown paths", async () => {
    const t = await startTrackingFixture();
    const open = t.sign({ kind: "open", recipient: "reader@example.org" });
    const unsub = t.sign({ kind: "unsub", recipient: "reader@example.org" });
    const post = await fetch(`${t.base}/o/${open}.gif`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await oneClick(`${t.base}/u/${unsub}`, "x".repeat(10_000))).status).toBe(413);
    expect(await t.store.getSuppression("acme", "unsubscribes", "reader@example.org")).toBeUndefined();
    expect((await get(`${t.base}/`)).status).toBe(404);
    expect((await get(`${t.base}/healthz`)).status).toBe(200);
  });
});
