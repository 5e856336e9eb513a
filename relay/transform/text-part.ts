/**
 * One text part of one recipient's copy: decode, edit, re-encode in the part's own encoding.
 * Pure: bytes in, bytes out, plus why a part was left alone.
 */
import { type CharsetView, charsetView } from "./charset.js";
import {
  decodeBody,
  encodeBody,
  MAX_LINE_OCTETS,
  type TransferEncoding,
  type UndecodableReason,
} from "./encoding.js";
import { insertOpenPixel, rewriteHtmlLinks } from "./html.js";
import { type LinkTracker, UNIQUE_ID_MARKER } from "./links.js";
import { longestLine, needsWrap, rewriteTextLinks, wrapText } from "./plain.js";

export interface TextPartInfo {
  kind: "html" | "plain";
  encoding: TransferEncoding;
  charset: string | false;
  flowed: boolean;
  delSp: boolean;
}

/** What this recipient's copy does to text parts. */
export interface CopyEdits {
  /** Replaces ***uniqueid***. */
  unsubscribeToken: string;
  links: LinkTracker;
  /** Open pixel URL; absent when opens are not tracked. */
  pixelUrl?: string;
  /** Track links in text/plain parts too. */
  textClicks: boolean;
  /** 0: never wrap. */
  wrapColumn: number;
}

export type TextPartSkipReason = UndecodableReason | "unsupported-charset";

export type TextPartOutcome =
  | { status: "skipped"; reason: TextPartSkipReason }
  | {
      status: "unchanged" | "rewritten";
      /** The new encoded body (rewritten only). */
      body?: Buffer;
      /** Set when the body had to move to quoted-printable (long lines in a 7bit/8bit part). */
      newEncoding?: "quoted-printable";
      /** The part's text as Unicode as the sender wrote it (***uniqueid*** still in): the source of a generated alternative. */
      unicodeSource: () => string;
    };

export function rewriteTextPart(info: TextPartInfo, rawBody: Buffer, edits: CopyEdits): TextPartOutcome {
  const decoded = decodeBody(rawBody, info.encoding);
  if (!decoded.ok) return { status: "skipped", reason: decoded.reason };
  const view = charsetView(info.charset);
  if (!view) return { status: "skipped", reason: "unsupported-charset" };

  const original = view.toWorking(decoded.bytes);
  const unicodeSource = () => view.toUnicode(decoded.bytes);
  // Links first: a link holding ***uniqueid*** is the unsubscribe link and is never tracked.
  const finished = info.kind === "html" ? editHtml(original, edits, view) : editPlain(original, edits);

  // Whether to wrap is judged on what the sender wrote: our own longer lines (a tracking URL in
  // place of a short one, the pixel) never turn a 7bit part into quoted-printable unless > 998.
  const wrap = needsWrap(original, edits.wrapColumn);
  const encoded = encodeEdited(info, finished, finished !== original, wrap, edits.wrapColumn, view, rawBody);
  if (!encoded) return { status: "unchanged", unicodeSource };
  return { status: "rewritten", ...encoded, unicodeSource };
}

function editHtml(original: string, edits: CopyEdits, view: CharsetView): string {
  let html = rewriteHtmlLinks(original, edits.links, view.decodeAttribute);
  html = html.split(UNIQUE_ID_MARKER).join(edits.unsubscribeToken);
  if (edits.pixelUrl) html = insertOpenPixel(html, edits.pixelUrl);
  return html;
}

function editPlain(original: string, edits: CopyEdits): string {
  const text = edits.textClicks ? rewriteTextLinks(original, edits.links) : original;
  return text.split(UNIQUE_ID_MARKER).join(edits.unsubscribeToken);
}

/** The new body, or undefined when the original bytes can go out untouched. */
function encodeEdited(
  info: TextPartInfo,
  text: string,
  changed: boolean,
  wrap: boolean,
  wrapColumn: number,
  view: CharsetView,
  rawBody: Buffer,
): { body: Buffer; newEncoding?: "quoted-printable" } | undefined {
  const endsWithBreak = rawBody.length > 0 && rawBody[rawBody.length - 1] === 0x0a;
  if (info.encoding === "base64" || info.encoding === "quoted-printable") {
    // Encoded lines are at most 76 octets already; soft breaks are the encoder's business.
    return changed ? { body: encodeBody(view.fromWorking(text), info.encoding, endsWithBreak) } : undefined;
  }
  // 7bit, 8bit, binary: the wire lines are the text lines.
  if (info.kind === "plain") {
    const wrapped = wrap
      ? wrapText(text, { column: wrapColumn, flowed: info.flowed, delSp: info.delSp })
      : text;
    if (longestLine(wrapped) > MAX_LINE_OCTETS) return toQuotedPrintable(wrapped, view, endsWithBreak);
    if (!changed && wrapped === text) return undefined;
    return { body: encodeBody(view.fromWorking(wrapped), info.encoding, endsWithBreak) };
  }
  // HTML is wrapped losslessly: quoted-printable soft breaks, never a break inside markup.
  if (wrap || longestLine(text) > MAX_LINE_OCTETS) {
    return toQuotedPrintable(text, view, endsWithBreak);
  }
  return changed ? { body: encodeBody(view.fromWorking(text), info.encoding, endsWithBreak) } : undefined;
}

function toQuotedPrintable(text: string, view: CharsetView, endsWithBreak: boolean) {
  return {
    body: encodeBody(view.fromWorking(text), "quoted-printable", endsWithBreak),
    newEncoding: "quoted-printable" as const,
  };
}
