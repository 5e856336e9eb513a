/**
 * HTML edits on the part's decoded bytes held as a latin1 string (one char per byte), so the
 * charset never has to round-trip: only ASCII markup is matched and only ASCII is inserted.
 */
import he from "he";
import { trailingSpaceStart, trimUrlAttribute } from "./ascii.js";
import { DO_NOT_TRACK_ATTRIBUTE, type LinkTracker } from "./links.js";

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
  const out: string[] = [];
  let copied = 0;
  for (const found of linkTags(html)) {
    const tag = html.slice(found.start, found.end);
    const rewritten = rewriteLinkTag(
      tag,
      html.slice(found.attributesStart, found.end - 1),
      links,
      decodeAttribute,
    );
    if (rewritten === tag) continue;
    out.push(html.slice(copied, found.start), rewritten);
    copied = found.end;
  }
  if (copied === 0) return html;
  out.push(html.slice(copied));
  return out.join("");
}

function rewriteLinkTag(
  tag: string,
  attributes: string,
  links: LinkTracker,
  decodeAttribute: AttributeDecoder,
): string {
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
}

export interface LinkTagSpan {
  /** The "<". */
  start: number;
  /** Just after the closing ">". */
  end: number;
  /** Just after the tag name: the attributes are [attributesStart, end - 1). */
  attributesStart: number;
}

/**
 * The <a ...> and <area ...> start tags, in order; attribute values may hold ">" inside quotes.
 * The same tags as /<(a|area)(?=[\s>/])((?:[^>"']|"[^"]*"|'[^']*')*)>/gi finds, in linear time:
 * that regex rescans to the end of the text from every "<a" no ">" closes (150,000 "<a " took
 * minutes). The scan is deterministic, so the positions a failed scan passed outside quotes are
 * marked: a later scan that reaches one fails the same way, at once. The marks (a byte per
 * character) are made only once a scan fails, which ordinary HTML never does.
 */
export function* linkTags(html: string): Generator<LinkTagSpan> {
  let failedPaths: Uint8Array | undefined;
  let from = 0;
  for (;;) {
    const start = html.indexOf("<", from);
    if (start === -1) return;
    const attributesStart = linkNameEnd(html, start + 1);
    if (attributesStart === -1) {
      from = start + 1;
      continue;
    }
    const close = closingBracket(html, attributesStart, failedPaths);
    if (close === -1) {
      failedPaths ??= new Uint8Array(html.length);
      closingBracket(html, attributesStart, failedPaths, true);
      from = start + 1;
      continue;
    }
    yield { start, end: close + 1, attributesStart };
    from = close + 1;
  }
}

/** After "<": the end of "a" or "area" (any case) when a space, ">" or "/" follows; else -1. */
function linkNameEnd(html: string, at: number): number {
  const first = html[at];
  if (first !== "a" && first !== "A") return -1;
  if (endsTagName(html[at + 1])) return at + 1;
  if (html.slice(at, at + 4).toLowerCase() === "area" && endsTagName(html[at + 4])) return at + 4;
  return -1;
}

function endsTagName(char: string | undefined): boolean {
  return char !== undefined && (char === ">" || char === "/" || /\s/.test(char));
}

/**
 * The ">" that ends a tag whose attributes start at `at` (quoted values skipped whole), or -1,
 * also when the scan reaches a position a failed scan passed. With `mark`, it marks its own
 * path (a failed scan, walked again). Only a failed scan's marks can be met later: every later
 * scan starts after the ">" of the tag a successful scan found.
 */
function closingBracket(html: string, at: number, failedPaths: Uint8Array | undefined, mark = false): number {
  let position = at;
  while (position < html.length) {
    if (failedPaths?.[position] === 1) return -1;
    if (mark && failedPaths) failedPaths[position] = 1;
    const char = html[position];
    if (char === ">") return position;
    if (char === '"' || char === "'") {
      const closeQuote = html.indexOf(char, position + 1);
      if (closeQuote === -1) return -1;
      position = closeQuote + 1;
    } else {
      position++;
    }
  }
  return -1;
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
  const trailing = trailingSpaceStart(html);
  return html.slice(0, trailing) + pixel + html.slice(trailing);
}
