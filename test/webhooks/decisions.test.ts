/** The pure parts of webhooks: signature, retry policy, target rules, the outbox's claim choice, the payload. */
import { describe, expect, it } from "vitest";
import { chooseClaims } from "../../relay/store/outbox-input.js";
import { webhookPayload } from "../../relay/webhooks/payload.js";
import { backoffDelay, nextStep, parseRetryAfter, type RetrySettings } from "../../relay/webhooks/policy.js";
import { signatureHeader, verifySignature } from "../../relay/webhooks/signature.js";
import { checkTargetUrl, isPublicAddress, targetCheck } from "../../relay/webhooks/targets.js";

describe("signature", () => {
  const secret = "whsec_test-secret-0123456789";
  const body = '{"id":"evt_1","type":"open"}';

  it("is t=TIMESTAMP,v1=HMAC-SHA256(secret, TIMESTAMP.body) in hex, and verifies", () => {
    const header = signatureHeader(secret, 1_700_000_000, body);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    // A known answer (openssl dgst -sha256 -hmac SECRET over "1700000000." + body), so the scheme cannot drift.
    expect(header).toBe("t=1700000000,v1=7e0f5cbaaabe8a21f0d33d70bd6455db10409bfcd2c7e5d08d748001cf74279c");
    expect(signatureHeader(secret, 1_700_000_000, Buffer.from(body))).toBe(header);
    expect(verifySignature(header, secret, body, { nowSeconds: 1_700_000_010 })).toEqual({
      valid: true,
      timestamp: 1_700_000_000,
    });
  });

  it("refuses another body, another secret, an old timestamp, and malformed headers", () => {
    const now = { nowSeconds: 1_700_000_000 };
    const header = signatureHeader(secret, 1_700_000_000, body);
    expect(verifySignature(header, secret, `${body} `, now)).toMatchObject({ valid: false });
    expect(verifySignature(header, `${secret}x`, body, now)).toMatchObject({ valid: false });
    expect(verifySignature(header, secret, body, { nowSeconds: 1_700_000_301 })).toEqual({
      valid: false,
      reason: "timestamp outside the tolerance",
    });
    for (const bad of [undefined, "", "t=1700000000", "v1=abc", `t=x,${header.split(",")[1]}`]) {
      expect(verifySignature(bad, secret, body, now).valid).toBe(false);
    }
  });

  it("accepts the header when any of several v1 values matches (room for secret rotation)", () => {
    const good = signatureHeader(secret, 1_700_000_000, body).split(",")[1];
    const other = signatureHeader("whsec_other-secret-000000", 1_700_000_000, body).split(",")[1];
    const header = `t=1700000000,${other},${good}`;
    expect(verifySignature(header, secret, body, { nowSeconds: 1_700_000_000 }).valid).toBe(true);
  });
});

describe("retry policy", () => {
  const settings: RetrySettings = { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 5000 };

  it("delivers on 2xx and retries 5xx, 429, timeouts and connection failures with growing waits", () => {
    expect(nextStep({ kind: "response", status: 204 }, 1, settings)).toEqual({ kind: "delivered" });
    const lowest = () => 0;
    const waits = [1, 2, 3].map((attempt) =>
      nextStep({ kind: "response", status: 503 }, attempt, settings, lowest),
    );
    expect(waits).toEqual([
      { kind: "retry", delayMs: 500, reason: "HTTP 503" },
      { kind: "retry", delayMs: 1000, reason: "HTTP 503" },
      { kind: "retry", delayMs: 2000, reason: "HTTP 503" },
    ]);
    expect(nextStep({ kind: "timeout" }, 1, settings, lowest)).toMatchObject({ kind: "retry" });
    expect(nextStep({ kind: "network", message: "ECONNREFUSED" }, 1, settings, lowest)).toMatchObject({
      kind: "retry",
      reason: "ECONNREFUSED",
    });
    expect(nextStep({ kind: "response", status: 429 }, 1, settings, lowest)).toMatchObject({ kind: "retry" });
  });

  it("gives up after maxAttempts, and at once on other 4xx, 3xx, and refused targets", () => {
    expect(nextStep({ kind: "response", status: 500 }, 4, settings)).toEqual({
      kind: "failed",
      reason: "HTTP 500 after 4 attempts",
    });
    for (const status of [400, 401, 404, 410, 301, 302]) {
      expect(nextStep({ kind: "response", status }, 1, settings)).toEqual({
        kind: "failed",
        reason: `HTTP ${status}`,
      });
    }
    expect(nextStep({ kind: "refused", message: "target refused" }, 1, settings)).toMatchObject({
      kind: "failed",
    });
  });

  it("jitters within [half, whole] of the doubled delay, capped", () => {
    for (const attempt of [1, 2, 3, 4, 5, 10]) {
      const whole = Math.min(5000, 1000 * 2 ** (attempt - 1));
      expect(backoffDelay(attempt, settings, () => 0)).toBe(whole / 2);
      expect(backoffDelay(attempt, settings, () => 0.999_999)).toBe(whole);
    }
  });

  it("honours a 429's Retry-After when it asks for more, up to maxDelayMs", () => {
    const lowest = () => 0;
    expect(
      nextStep({ kind: "response", status: 429, retryAfterMs: 3000 }, 1, settings, lowest),
    ).toMatchObject({
      delayMs: 3000,
    });
    expect(
      nextStep({ kind: "response", status: 429, retryAfterMs: 60_000 }, 1, settings, lowest),
    ).toMatchObject({
      delayMs: 5000,
    });
    expect(parseRetryAfter("7", 0)).toBe(7000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter("soon", 0)).toBeUndefined();
  });
});

describe("targets (SSRF)", () => {
  it("calls only globally reachable unicast addresses public", () => {
    for (const ip of ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
      expect(isPublicAddress(ip), ip).toBe(true);
    for (const ip of [
      "127.0.0.1",
      "10.1.2.3",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fd12:3456::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:a9fe:a9fe",
      "64:ff9b::10.0.0.1",
      "not-an-ip",
    ])
      expect(isPublicAddress(ip), ip).toBe(false);
  });

  it("lets through only the private ranges it is told to", () => {
    const check = targetCheck(["127.0.0.0/8", "fd00::/8"]);
    expect(check("127.0.0.1")).toBe(true);
    expect(check("::ffff:127.0.0.1")).toBe(true);
    expect(check("fd00::5")).toBe(true);
    expect(check("10.0.0.1")).toBe(false);
    expect(check("8.8.8.8")).toBe(true);
  });

  it("checks the URL: http(s) only, no user info, IP literal hosts against the rules", () => {
    const check = targetCheck([]);
    expect(checkTargetUrl("https://hooks.example.org/in", check)).toMatchObject({ ok: true });
    expect(checkTargetUrl("ftp://hooks.example.org/in", check)).toEqual({ ok: false, reason: "not http(s)" });
    expect(checkTargetUrl("https://user:pw@hooks.example.org/", check)).toEqual({
      ok: false,
      reason: "user info in the URL",
    });
    expect(checkTargetUrl("http://127.0.0.1:8080/", check)).toMatchObject({ ok: false });
    expect(checkTargetUrl("http://[::1]/", check)).toMatchObject({ ok: false });
    expect(checkTargetUrl("http://169.254.169.254/latest/meta-data", check)).toMatchObject({ ok: false });
    expect(checkTargetUrl("http://0x7f000001/", check)).toMatchObject({ ok: false }); // WHATWG URL: 127.0.0.1
    expect(checkTargetUrl("http://127.0.0.1:8080/", targetCheck(["127.0.0.1"]))).toMatchObject({ ok: true });
  });
});

const candidate = (account: string, webhookId: string, id: string) => ({ account, webhookId, id });

describe("claim choice (the outbox's, both adapters)", () => {
  it("takes the oldest due first, at most perWebhook of a webhook, counting the busy ones, and passes over the rest", () => {
    const due = [
      candidate("acme", "slow", "s0"),
      candidate("acme", "slow", "s1"),
      candidate("acme", "slow", "s2"),
      candidate("beta", "slow", "b0"),
      candidate("acme", "fast", "f0"),
    ];
    const { take, skip } = chooseClaims(due, {
      limit: 10,
      perWebhook: 2,
      busy: [{ account: "acme", webhookId: "slow", count: 1 }],
    });
    // Same webhook id in another account is another webhook.
    expect(take.map((c) => c.id)).toEqual(["s0", "b0", "f0"]);
    expect(skip.map((c) => c.id)).toEqual(["s1", "s2"]);
  });

  it("stops at the limit without passing over what it did not look at", () => {
    const due = [candidate("a", "w", "1"), candidate("a", "w", "2"), candidate("a", "x", "3")];
    expect(chooseClaims(due, { limit: 1, perWebhook: 1 })).toEqual({ take: [due[0]], skip: [] });
    expect(chooseClaims(due, { limit: 0, perWebhook: 1 })).toEqual({ take: [], skip: [] });
  });
});

describe("payload", () => {
  it("is the stored event, flat, with its id and the unique flag, and nothing undefined", () => {
    const payload = webhookPayload(
      "evt_1",
      {
        type: "click",
        messageId: "M1",
        recipient: "a@example.org",
        at: 5,
        account: "acme",
        url: "https://x",
        linkIndex: 0,
      },
      true,
    );
    expect(payload).toEqual({
      id: "evt_1",
      type: "click",
      account: "acme",
      messageId: "M1",
      recipient: "a@example.org",
      at: 5,
      unique: true,
      url: "https://x",
      linkIndex: 0,
    });
  });
});
