/**
 * What the tracking server shows people: the 1x1 pixel and the unsubscribe pages.
 * Pure rendering; every value that came from outside (address, subject, token)
 * goes through `escapeHtml`, and the server sends a CSP that forbids scripts
 * anyway, so a hostile subject line cannot run in the reader's browser.
 */

/** A 1x1 transparent GIF89a (43 bytes). */
export const PIXEL_GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface UnsubscribePageInput {
  /** The recipient the token names. */
  address: string;
  subject?: string;
  /** The sender of the message, for "you will no longer get mail from ...". */
  sender?: string;
  /** Path the confirm button posts to: /u/TOKEN. */
  actionPath: string;
  alreadyUnsubscribed: boolean;
}

const STYLE =
  "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}" +
  "button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}p.small{color:#666;font-size:.9rem}";

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>
`;
}

/** GET /u/TOKEN: asks; never acts (link scanners fetch every URL in a message). */
export function confirmPage(input: UnsubscribePageInput): string {
  const about = input.subject
    ? `<p class="small">You received “${escapeHtml(input.subject)}”${input.sender ? ` from ${escapeHtml(input.sender)}` : ""}.</p>`
    : "";
  if (input.alreadyUnsubscribed) {
    return page(
      "Unsubscribed",
      `<h1>You are unsubscribed</h1><p><strong>${escapeHtml(input.address)}</strong> is already off this list.</p>${about}`,
    );
  }
  return page(
    "Unsubscribe",
    `<h1>Unsubscribe?</h1>
<p>Stop sending mail to <strong>${escapeHtml(input.address)}</strong> from this sender.</p>${about}
<form method="post" action="${escapeHtml(input.actionPath)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<input type="hidden" name="via" value="page">
<button type="submit">Unsubscribe</button>
</form>`,
  );
}

/** After the POST (button or RFC 8058 one-click). */
export function donePage(address: string): string {
  return page(
    "Unsubscribed",
    `<h1>You are unsubscribed</h1><p><strong>${escapeHtml(address)}</strong> will get no more mail from this sender.</p>`,
  );
}

export function notFoundPage(): string {
  return page("Not found", "<h1>Not found</h1><p>This link is not valid.</p>");
}

/** The message is past retention: the token is genuine, but whose list it was is no longer known. */
export function expiredPage(): string {
  return page(
    "Link expired",
    "<h1>This link has expired</h1><p>Please use the unsubscribe link of a more recent message.</p>",
  );
}
