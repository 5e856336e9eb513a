/**
 * text/plain edits: link tracking in text (optional per account) and word wrap. Works on the
 * decoded bytes as a latin1 string, like html.ts.
 */
import { textUrlPattern } from "./ascii.js";
import type { LinkTracker } from "./links.js";

/** A URL ends at whitespace, a quote or an angle bracket: "<https://x>" is found whole. */
const TEXT_URL = textUrlPattern();

export function rewriteTextLinks(text: string, links: LinkTracker): string {
  return text.replace(TEXT_URL, (found: string) => {
    const url = trimUrlEnd(found);
    if (/[^\x20-\x7e]/.test(url)) return found;
    const decision = links.decide(url);
    return decision.track ? decision.trackingUrl + found.slice(url.length) : found;
  });
}

/**
 * Drops punctuation that ends the sentence rather than the URL, and a closing parenthesis that
 * closes text around the URL: "(see https://x.example/a_(b))." keeps "https://x.example/a_(b)".
 */
export function trimUrlEnd(found: string): string {
  // Counted once and updated as the end is dropped: recounting at each step made a URL ending
  // in 100,000 ")" quadratic.
  const openParens = count(found, "(");
  const openBrackets = count(found, "[");
  let closeParens = count(found, ")");
  let closeBrackets = count(found, "]");
  let end = found.length;
  for (;;) {
    const last = found[end - 1];
    if (last && ".,;:!?'*".includes(last)) {
      end--;
    } else if (last === ")" && openParens < closeParens) {
      closeParens--;
      end--;
    } else if (last === "]" && openBrackets < closeBrackets) {
      closeBrackets--;
      end--;
    } else {
      return found.slice(0, end);
    }
  }
}

function count(text: string, char: string): number {
  let n = 0;
  for (const c of text) if (c === char) n++;
  return n;
}

/**
 * Lines up to this many octets count as already wrapped: RFC 5322 §2.1.1 asks for 78, and a
 * sender that wraps at 78 must not be re-wrapped raggedly at 76.
 */
export const ALREADY_WRAPPED_OCTETS = 78;

/** True when some line is longer than the column and the part is not already wrapped. */
export function needsWrap(text: string, column: number): boolean {
  if (column <= 0) return false;
  const limit = Math.max(column, ALREADY_WRAPPED_OCTETS);
  return longestLine(text) > limit;
}

export function longestLine(text: string): number {
  let longest = 0;
  let start = 0;
  for (;;) {
    const lf = text.indexOf("\n", start);
    const end = lf === -1 ? text.length : lf;
    const length = end - start - (end > start && text[end - 1] === "\r" ? 1 : 0);
    if (length > longest) longest = length;
    if (lf === -1) return longest;
    start = lf + 1;
  }
}

export interface WrapOptions {
  column: number;
  /** format=flowed: break with soft line breaks (a space before CRLF) instead of hard ones. */
  flowed: boolean;
  /** format=flowed; delsp=yes: the space before a soft break is deleted on reflow, so add one. */
  delSp: boolean;
}

/**
 * Word wrap at whitespace; a word longer than the column (a URL) is never cut. Quoted lines
 * (">") and the signature separator are left alone: re-wrapping them breaks quoting.
 */
export function wrapText(text: string, options: WrapOptions): string {
  const lines = text.split("\r\n");
  const out: string[] = [];
  for (const line of lines) {
    if (line.length <= options.column || line.startsWith(">") || line === "-- ") out.push(line);
    else out.push(...wrapLine(line, options));
  }
  return out.join("\r\n");
}

function wrapLine(line: string, { column, flowed, delSp }: WrapOptions): string[] {
  const pieces: string[] = [];
  let rest = line;
  while (rest.length > column) {
    // Last space at or before the column; failing that, the first space after it.
    let cut = rest.lastIndexOf(" ", column);
    if (cut <= 0) cut = rest.indexOf(" ", column + 1);
    if (cut <= 0) break;
    if (flowed) {
      // Soft break: the space stays at the end of the line; with delsp=yes a second one is added.
      pieces.push(rest.slice(0, cut + 1) + (delSp ? " " : ""));
    } else {
      pieces.push(rest.slice(0, cut));
    }
    rest = rest.slice(cut + 1);
    // RFC 3676 §4.4 space-stuffing, so a continuation is not read as a quote or an mbox line.
    if (flowed && /^( |>|From )/.test(rest)) rest = ` ${rest}`;
  }
  pieces.push(rest);
  return pieces;
}
