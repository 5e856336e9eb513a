/**
 * Who hears about an error found after acceptance (an account's `notify`:
 * docs/reference/config.md): the account manager and/or the envelope sender. Pure.
 *
 * "The From address" is taken to be the envelope sender: that is where
 * RFC 5321 §4.5.5 sends delivery status notifications, and it is the address
 * the sender chose to receive them (often a VERP bounce address).
 */
import type { Account } from "../accounts/schema.js";

/**
 * Never about a notification: a message with the null sender `<>` is itself a
 * bounce or notice (ours or someone else's), and answering it can loop.
 */
export function isNotification(envelopeFrom: string): boolean {
  return envelopeFrom === "";
}

export function noticeRecipients(account: Account | undefined, envelopeFrom: string): string[] {
  if (isNotification(envelopeFrom)) return [];
  const notify = account?.notify ?? { toAccountManager: true, toFrom: true };
  const out: string[] = [];
  if (notify.toAccountManager && notify.accountManager) out.push(notify.accountManager);
  if (notify.toFrom) out.push(envelopeFrom);
  const seen = new Set<string>();
  return out.filter((address) => {
    const key = address.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
