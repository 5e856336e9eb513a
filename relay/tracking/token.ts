/**
 * Tracking tokens: the signed part of TRACKING_BASE/o/TOKEN.gif, /c/TOKEN and /u/TOKEN.
 *
 * A token is base64url(payload || HMAC-SHA256(key, payload)). The payload is binary:
 *
 *   version u8 (=1) · kind u8 ('o' open, 'c' click, 'u' unsubscribe)
 *   · keyId (u8 length + ASCII) · messageId (u8 length + UTF-8) · recipient (u16 length + UTF-8)
 *   · click only: linkIndex u16 · url (u16 length + UTF-8)
 *
 * Click tokens carry the URL itself, not a hash of it: the tracking server redirects to
 * `payload.url` and needs no lookup, and because the MAC covers the URL, the server can only
 * ever redirect to a URL this relay signed. Everything the MAC covers is
 * readable by whoever holds the link; nothing in it is secret.
 *
 * Keys rotate by id: tokens are signed with `keyring.current` and verified with whichever key
 * their keyId names, so links in mail already sent keep working while older keys stay listed.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const TOKEN_VERSION = 1;
const MAC_BYTES = 32;
/** Longest URL a click token carries; longer links are left untracked by the transform. */
export const MAX_TOKEN_URL_BYTES = 4096;
const MAX_MESSAGE_ID_BYTES = 255;
const MAX_RECIPIENT_BYTES = 1024;
/** base64url of the largest possible payload + MAC; anything longer is rejected before decoding. */
const MAX_TOKEN_CHARS = Math.ceil(((8 + 255 + 255 + 1026 + 4 + MAX_TOKEN_URL_BYTES + MAC_BYTES) * 4) / 3);

export type TokenKind = "open" | "click" | "unsub";

const KIND_CODES: Record<TokenKind, number> = { open: 0x6f, click: 0x63, unsub: 0x75 };

export interface TokenKey {
  /** 1-16 characters [A-Za-z0-9_-], written into every token it signs. */
  id: string;
  /** At least 32 bytes of secret. */
  secret: Buffer;
}

export interface TokenKeyring {
  /** Signs new tokens. */
  current: TokenKey;
  /** Still accepted when verifying, so tokens signed before a rotation keep working. */
  previous?: readonly TokenKey[];
}

interface TokenBase {
  keyId: string;
  messageId: string;
  recipient: string;
}
export type TokenPayload =
  | (TokenBase & { kind: "open" })
  | (TokenBase & { kind: "unsub" })
  | (TokenBase & { kind: "click"; linkIndex: number; url: string });

/** What the signer needs; the keyId comes from the keyring. */
export type TokenClaims =
  | { kind: "open" | "unsub"; messageId: string; recipient: string }
  | { kind: "click"; messageId: string; recipient: string; linkIndex: number; url: string };

const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,16}$/;

export function makeKeyring(current: TokenKey, previous: readonly TokenKey[] = []): TokenKeyring {
  for (const key of [current, ...previous]) {
    if (!KEY_ID_PATTERN.test(key.id)) throw new Error(`token key id ${JSON.stringify(key.id)} is not valid`);
    if (key.secret.length < 32) throw new Error(`token key ${key.id} has a secret shorter than 32 bytes`);
  }
  return { current, previous };
}

export function signToken(keyring: TokenKeyring, claims: TokenClaims): string {
  const payload = encodePayload(keyring.current.id, claims);
  const mac = createHmac("sha256", keyring.current.secret).update(payload).digest();
  return Buffer.concat([payload, mac]).toString("base64url");
}

/** The payload of a genuine token signed by a key in the keyring; undefined for anything else. */
export function verifyToken(keyring: TokenKeyring, token: string): TokenPayload | undefined {
  if (token.length < 8 || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const raw = Buffer.from(token, "base64url");
  if (raw.length <= MAC_BYTES + 2) return undefined;
  const payloadBytes = raw.subarray(0, raw.length - MAC_BYTES);
  const mac = raw.subarray(raw.length - MAC_BYTES);
  const payload = decodePayload(payloadBytes);
  if (!payload) return undefined;
  const key = findKey(keyring, payload.keyId);
  if (!key) return undefined;
  const expected = createHmac("sha256", key.secret).update(payloadBytes).digest();
  if (expected.length !== mac.length || !timingSafeEqual(expected, mac)) return undefined;
  // base64url has more than one spelling of the same bytes (unused trailing bits): accept only ours.
  if (raw.toString("base64url") !== token) return undefined;
  return payload;
}

function findKey(keyring: TokenKeyring, keyId: string): TokenKey | undefined {
  if (keyring.current.id === keyId) return keyring.current;
  return keyring.previous?.find((key) => key.id === keyId);
}

function encodePayload(keyId: string, claims: TokenClaims): Buffer {
  const parts: Buffer[] = [Buffer.from([TOKEN_VERSION, KIND_CODES[claims.kind]])];
  parts.push(lengthPrefixed(Buffer.from(keyId, "ascii"), 1));
  parts.push(lengthPrefixed(limited(claims.messageId, MAX_MESSAGE_ID_BYTES, "message id"), 1));
  parts.push(lengthPrefixed(limited(claims.recipient, MAX_RECIPIENT_BYTES, "recipient"), 2));
  if (claims.kind === "click") {
    if (!Number.isInteger(claims.linkIndex) || claims.linkIndex < 0 || claims.linkIndex > 0xffff) {
      throw new RangeError(`link index ${claims.linkIndex} is out of range`);
    }
    const index = Buffer.alloc(2);
    index.writeUInt16BE(claims.linkIndex);
    parts.push(index, lengthPrefixed(limited(claims.url, MAX_TOKEN_URL_BYTES, "url"), 2));
  }
  return Buffer.concat(parts);
}

function limited(value: string, maxBytes: number, what: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > maxBytes) throw new RangeError(`${what} is longer than ${maxBytes} bytes`);
  return bytes;
}

function lengthPrefixed(bytes: Buffer, prefixBytes: 1 | 2): Buffer {
  const prefix = Buffer.alloc(prefixBytes);
  if (prefixBytes === 1) prefix.writeUInt8(bytes.length);
  else prefix.writeUInt16BE(bytes.length);
  return Buffer.concat([prefix, bytes]);
}

/** Reads the payload structure; any inconsistency (wrong version, bad lengths, trailing bytes) is undefined. */
function decodePayload(bytes: Buffer): TokenPayload | undefined {
  const reader = new PayloadReader(bytes);
  if (reader.u8() !== TOKEN_VERSION) return undefined;
  const kindCode = reader.u8();
  const kind = (Object.keys(KIND_CODES) as TokenKind[]).find((name) => KIND_CODES[name] === kindCode);
  const keyId = reader.text(1, "ascii");
  const messageId = reader.text(1, "utf8");
  const recipient = reader.text(2, "utf8");
  if (!kind || keyId === undefined || messageId === undefined || recipient === undefined) return undefined;
  if (!KEY_ID_PATTERN.test(keyId)) return undefined;
  if (kind === "click") {
    const linkIndex = reader.u16();
    const url = reader.text(2, "utf8");
    if (linkIndex === undefined || url === undefined || !reader.atEnd()) return undefined;
    if (!/^https?:\/\//i.test(url)) return undefined;
    return { kind, keyId, messageId, recipient, linkIndex, url };
  }
  if (!reader.atEnd()) return undefined;
  return { kind, keyId, messageId, recipient };
}

class PayloadReader {
  private offset = 0;
  constructor(private readonly bytes: Buffer) {}
  u8(): number | undefined {
    if (this.offset + 1 > this.bytes.length) return undefined;
    return this.bytes.readUInt8(this.offset++);
  }
  u16(): number | undefined {
    if (this.offset + 2 > this.bytes.length) return undefined;
    const value = this.bytes.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }
  text(prefixBytes: 1 | 2, encoding: "ascii" | "utf8"): string | undefined {
    const length = prefixBytes === 1 ? this.u8() : this.u16();
    if (length === undefined || this.offset + length > this.bytes.length) return undefined;
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    const text = slice.toString(encoding);
    // Reject bytes that do not round-trip (invalid UTF-8): such a token was not made by signToken.
    if (!Buffer.from(text, encoding).equals(slice)) return undefined;
    return text;
  }
  atEnd(): boolean {
    return this.offset === this.bytes.length;
  }
}
