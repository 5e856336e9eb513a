/**
 * HTML edits on the part's decoded bytes held as a latin1 string (one char per byte), so the
 * charset never has to round-trip: only ASCII markup is matched and only ASCII is inserted.
 */
import he from "he";
import { trimUrlAttribute } from "./ascii.js";
import { DO_NOT_TRACK_ATTRIBUTE, type LinkTracker } from "./links.js";

/** <a ...> and <area ...> start tags; attribute values may hold ">" inside quotes. */
const LINK_TAG = /<(a|area)(?=[\s>/])((?:[^>"']|"[^"]*"|'[^']*')*)>/gi;
const HREF_ATTRIBUTE = /(^|[\s"'/])(href)(\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/i;
const DO_NOT_TRACK = new RegExp(`(^|[\\s"'/])${DO_NOT_TRACK_ATTRIBUTE}(?=[\\s=/>]|$)`, "i");

/**
 * Turns an attribute's raw bytes (latin1 string) into the Unicode text the browser sees, or
 * undefined when the part's charset cannot be decoded safely.
 */
export type AttributeDecoder = (latin1: string) => string | undefined;

export function rewriteHtmlLinks(
  html: string,
  links: LinkTracker,
  decodeAttribute: AttributeDecoder,
): string {
  return html.replace(LINK_TAG, (tag: string, _name: string, attributes: string) => {
    const href = HREF_ATTRIBUTE.exec(attributes);
    if (!href) return tag;
    const rawValue = href[4] ?? href[5] ?? href[6] ?? "";
    const url = browserUrl(rawValue, decodeAttribute);
    if (url === undefined) return tag;
    const decision = links.decide(url, DO_NOT_TRACK.test(attributes));
    if (!decision.track) return tag;
    const start = tag.length - 1 - attributes.length + href.index + href[1]!.length;
    const end = tag.length - 1 - attributes.length + href.index + href[0].length;
    return `${tag.slice(0, start)}href="${decision.trackingUrl}"${tag.slice(end)}`;
  });
}

/** The URL a browser would follow: bytes decoded by charset, entities decoded, spaces trimmed. */
export function browserUrl(rawValue: string, decodeAttribute: AttributeDecoder): string | undefined {
  const text = /[\u0080-\uffff]/.test(rawValue) ? decodeAttribute(rawValue) : rawValue;
  if (text === undefined) return undefined;
  // `&amp;` in a password-reset link must reach the browser as `&`: sign the decoded URL.
  const url = trimUrlAttribute(he.decode(text, { isAttributeValue: true }));
  if (!/[^\x20-\x7e]/.test(url)) return url;
  try {
    // Non-ASCII (IRIs): sign the percent-encoded form the browser would request.
    return new URL(url).href;
  } catch {
    return undefined;
  }
}

const BODY_END = /<\/body\s*>/gi;

/** Adds the open pixel before the last </body>, or at the end when there is none. */
export function insertOpenPixel(html: string, pixelUrl: string): string {
  const pixel = `<img src="${pixelUrl}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" />`;
  let lastBodyEnd = -1;
  for (const match of html.matchAll(BODY_END)) lastBodyEnd = match.index;
  if (lastBodyEnd !== -1) return html.slice(0, lastBodyEnd) + pixel + html.slice(lastBodyEnd);
  const trailing = /\s*$/.exec(html)!;
  return html.slice(0, trailing.index) + pixel + html.slice(trailing.index);
}
