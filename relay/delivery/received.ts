/**
 * The trace header each copy gains on its way out (RFC 5321 §4.4), and the
 * envelope check every outgoing transaction passes. Pure.
 */
import type { SpooledEnvelope } from "../spool/envelope.js";

function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, "+0000");
}

/** A HELO name as the client gave it, made safe for a header (it is the client's text). */
function safeToken(text: string): string {
  const cleaned = text.replace(/[^\x21-\x7e]/g, "").replace(/[()\\]/g, "");
  return cleaned.slice(0, 255) || "unknown";
}

/**
 * "Received: from HELO ([IP]) by HOST (relayfleet) with PROTO id ID for <rcpt>; DATE",
 * folded so no line passes 78 characters where it can be helped.
 */
export function receivedHeader(envelope: SpooledEnvelope, recipient: string, hostname: string): Buffer {
  const parts = [
    `from ${safeToken(envelope.heloName)} ([${safeToken(envelope.clientIp)}])`,
    `by ${safeToken(hostname)} (relayfleet)`,
    `with ${safeToken(envelope.transmissionType)} id ${envelope.id}`,
    `for <${safeToken(recipient)}>;`,
    rfc5322Date(envelope.receivedAt),
  ];
  return Buffer.from(`Received: ${parts.join("\r\n\t")}\r\n`);
}

/**
 * An address we may put in MAIL FROM or RCPT TO: no control characters or
 * angle brackets that could end the command or smuggle a second one
 * a non-empty local part (quoted ones may
 * hold spaces) and a domain after the last "@" with nothing exotic in it, at
 * most 320 octets. The null sender "" is allowed for MAIL FROM only.
 */
export function isSafeEnvelopeAddress(address: string, options: { allowNull?: boolean } = {}): boolean {
  if (address === "") return options.allowNull === true;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (address.length > 320 || /[\x00-\x1f\x7f<>]/.test(address)) return false;
  if (address.trim() !== address) return false;
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return false;
  return /^(?:[^\s"@\\()[\],;:]+|\[[0-9a-f:.]+\]|\[IPv6:[0-9a-f:.]+\])$/i.test(address.slice(at + 1));
}
