/** The pure parts of webhooks: signature, retry policy, target rules, the bounded queue, the payload. */
import { describe, expect, it } from "vitest";
import type { WebhookRecord } from "../../relay/store/types.js";
import { webhookPayload } from "../../relay/webhooks/payload.js";
import { backoffDelay, nextStep, parseRetryAfter, type RetrySettings } from "../../relay/webhooks/policy.js";
import { type Delivery, DeliveryQueue } from "../../relay/webhooks/queue.js";
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

function hook(id: string): WebhookRecord {
  return {
    id,
    account: "acme",
    url: `https://h.example/${id}`,
    events: ["open"],
    secret: "whsec_0123456789abcdef",
    createdAt: 0,
    active: true,
  };
}

function delivery(hookId: string, eventId: string): Delivery {
  return { hook: hook(hookId), eventId, body: "{}", attempts: 0 };
}

describe("delivery queue", () => {
  it("drops the delivery that entered longest ago when full, parked retries included", () => {
    const queue = new DeliveryQueue(3, 4);
    const parked = delivery("a", "e0");
    expect(queue.park(parked)).toEqual([]);
    expect(queue.add(delivery("a", "e1"))).toEqual([]);
    expect(queue.add(delivery("b", "e2"))).toEqual([]);
    expect(queue.add(delivery("b", "e3")).map((d) => d.eventId)).toEqual(["e0"]);
    expect(queue.unpark(parked)).toBe(false);
    expect(queue.add(delivery("a", "e4")).map((d) => d.eventId)).toEqual(["e1"]);
    expect(queue.size).toBe(3);
    expect([queue.take(), queue.take(), queue.take(), queue.take()].map((d) => d?.eventId)).toEqual([
      "e2",
      "e3",
      "e4",
      undefined,
    ]);
  });

  it("holds a webhook's deliveries back while it has perHookLimit in flight, serving the others", () => {
    const queue = new DeliveryQueue(100, 2);
    for (let i = 0; i < 4; i++) queue.add(delivery("slow", `s${i}`));
    queue.add(delivery("fast", "f0"));
    const first = queue.take();
    const second = queue.take();
    expect([first?.eventId, second?.eventId]).toEqual(["s0", "s1"]);
    expect(queue.take()?.eventId).toBe("f0");
    expect(queue.take()).toBeUndefined();
    queue.finished(first as Delivery);
    expect(queue.take()?.eventId).toBe("s2");
  });

  it("moves a parked retry to the ready side, behind what is already ready", () => {
    const queue = new DeliveryQueue(10, 4);
    const retry = delivery("a", "r");
    queue.park(retry);
    queue.add(delivery("a", "n"));
    expect(queue.unpark(retry)).toBe(true);
    expect(queue.unpark(retry)).toBe(false);
    expect([queue.take()?.eventId, queue.take()?.eventId]).toEqual(["n", "r"]);
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
