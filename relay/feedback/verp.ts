/**
 * VERP return paths: every delivered copy leaves with the envelope sender
 * `PREFIX+MESSAGEID-CODE@BOUNCE_DOMAIN`, so whatever comes back to it names
 * the message and the recipient without trusting anything in the report.
 *
 *   MESSAGEID  the relay's 23-character lower-case base-36 ID (spool/id.ts)
 *   CODE       base32 (RFC 4648 alphabet, lower case, no padding) of
 *              5 bytes recipient hash || 10 bytes HMAC-SHA256
 *
 * The local part must survive MTAs and mailbox providers that lower-case it,
 * so everything in it is lower-case letters and digits; the whole local part
 * stays within the 64 octets of RFC 5321 §4.5.3.1.1 (prefix at most 15).
 * The recipient is carried as a hash, not spelled out (it would not fit, and
 * the return path is visible to every hop): the message record gives the
 * address back. An 80-bit MAC is plenty against forgery at SMTP speed.
 * Keys come from the tracking keyring; every key in it verifies, so links
 * and return paths survive a rotation alike.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { MESSAGE_ID_PATTERN } from "../spool/id.js";
import type { TokenKeyring } from "../tracking/token.js";

const RECIPIENT_HASH_BYTES = 5;
const MAC_BYTES = 10;
const CODE_CHARS = Math.ceil(((RECIPIENT_HASH_BYTES + MAC_BYTES) * 8) / 5);
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

export interface VerpSettings {
  /** Lower-case; the domain whose mail the relay takes as feedback. */
  domain: string;
  /** Local-part prefix before "+", e.g. "bounces". */
  prefix: string;
  keys: TokenKeyring;
}

/** What a genuine VERP address names. */
export interface VerpClaim {
  messageId: string;
  /** Compare with `recipientHash(address)` to find the recipient in the message record. */
  recipientHash: Buffer;
}

export function recipientHash(recipient: string): Buffer {
  return createHash("sha256")
    .update(`relayfleet-verp-rcpt\u0000${recipient.toLowerCase()}`)
    .digest()
    .subarray(0, RECIPIENT_HASH_BYTES);
}

function mac(secret: Buffer, messageId: string, hash: Buffer): Buffer {
  return createHmac("sha256", secret)
    .update(`relayfleet-verp-v1\u0000${messageId}\u0000`)
    .update(hash)
    .digest()
    .subarray(0, MAC_BYTES);
}

/** The return path for one recipient's copy of one message. */
export function verpAddress(settings: VerpSettings, messageId: string, recipient: string): string {
  if (!MESSAGE_ID_PATTERN.test(messageId)) throw new RangeError(`not a relay message id: ${messageId}`);
  const hash = recipientHash(recipient);
  const code = base32(Buffer.concat([hash, mac(settings.keys.current.secret, messageId, hash)]));
  return `${settings.prefix}+${messageId}-${code}@${settings.domain}`;
}

/** True when `address` is at the bounce domain (whatever its local part). */
export function atBounceDomain(settings: Pick<VerpSettings, "domain">, address: string): boolean {
  const at = address.lastIndexOf("@");
  return at > 0 && address.slice(at + 1).toLowerCase() === settings.domain;
}

/** The claim of a genuine VERP address at the bounce domain; undefined for anything else. */
export function readVerpAddress(settings: VerpSettings, address: string): VerpClaim | undefined {
  if (!atBounceDomain(settings, address)) return undefined;
  const local = address.slice(0, address.lastIndexOf("@")).toLowerCase();
  const head = `${settings.prefix}+`;
  if (!local.startsWith(head)) return undefined;
  const rest = local.slice(head.length);
  const dash = rest.indexOf("-");
  if (dash < 0) return undefined;
  const messageId = rest.slice(0, dash);
  const code = rest.slice(dash + 1);
  if (!MESSAGE_ID_PATTERN.test(messageId) || code.length !== CODE_CHARS) return undefined;
  const bytes = unbase32(code);
  if (!bytes || bytes.length !== RECIPIENT_HASH_BYTES + MAC_BYTES) return undefined;
  const hash = bytes.subarray(0, RECIPIENT_HASH_BYTES);
  const given = bytes.subarray(RECIPIENT_HASH_BYTES);
  const keys = [settings.keys.current, ...(settings.keys.previous ?? [])];
  // Every key is tried (no early exit), so timing says nothing about which one matched.
  let valid = false;
  for (const key of keys) valid = timingSafeEqual(mac(key.secret, messageId, hash), given) || valid;
  return valid ? { messageId, recipientHash: Buffer.from(hash) } : undefined;
}

/** Every genuine VERP address of ours found in a text (an ARF's Original-Mail-From, a returned Return-Path). */
export function findVerpClaims(settings: VerpSettings, text: string): VerpClaim[] {
  const prefix = settings.prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const domain = settings.domain.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`${prefix}\\+[0-9a-z]{23}-[a-z2-7]{${CODE_CHARS}}@${domain}\\b`, "gi");
  const seen = new Set<string>();
  const claims: VerpClaim[] = [];
  for (const match of text.matchAll(pattern)) {
    const address = match[0].toLowerCase();
    if (seen.has(address)) continue;
    seen.add(address);
    const claim = readVerpAddress(settings, address);
    if (claim) claims.push(claim);
  }
  return claims;
}

function base32(bytes: Buffer): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Buffer | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const digit = BASE32.indexOf(char);
    if (digit < 0) return undefined;
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  // Only the canonical spelling: leftover bits must be zero (one address per token).
  if ((value & ((1 << bits) - 1)) !== 0) return undefined;
  return Buffer.from(out);
}
