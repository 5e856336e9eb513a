/**
 * The webhook signature, Stripe's scheme: each POST carries
 *
 *   X-Relayfleet-Signature: t=TIMESTAMP,v1=HEX
 *
 * TIMESTAMP is Unix seconds at the time of sending (new on every attempt),
 * HEX is HMAC-SHA256 keyed with the webhook's secret (its UTF-8 text, the
 * `whsec_` prefix included) over `TIMESTAMP + "." + body`, body being the
 * exact bytes POSTed. A receiver recomputes it, compares in constant time,
 * and refuses timestamps too far from its clock, which stops replays.
 * Several v1= values may appear (for a future secret rotation); one match is enough.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-relayfleet-signature";

/** How far a receiver should let the timestamp be from its own clock, by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A new secret: 32 random bytes, shown to the caller once. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

function hmacHex(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

/** The header value for `body` sent at `timestamp` (Unix seconds). */
export function signatureHeader(secret: string, timestamp: number, body: string | Buffer): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

export type SignatureCheck = { valid: true; timestamp: number } | { valid: false; reason: string };

/** What a receiver does (and what the tests do): parse, check the time, compare in constant time. */
export function verifySignature(
  header: string | undefined,
  secret: string,
  body: string | Buffer,
  options: { nowSeconds?: number; toleranceSeconds?: number } = {},
): SignatureCheck {
  if (!header) return { valid: false, reason: "no signature header" };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const [key, value = ""] = part.trim().split("=", 2) as [string, string?];
    if (key === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined) return { valid: false, reason: "no timestamp" };
  if (signatures.length === 0) return { valid: false, reason: "no v1 signature" };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS))
    return { valid: false, reason: "timestamp outside the tolerance" };
  const expected = Buffer.from(hmacHex(secret, timestamp, body), "hex");
  const matches = signatures.some((s) => timingSafeEqual(Buffer.from(s, "hex"), expected));
  return matches ? { valid: true, timestamp } : { valid: false, reason: "signature mismatch" };
}
