/**
 * The message transform: one copy per recipient, streamed.
 *
 *   spooled message → CRLF guard → mailsplit → MimeRewriter (tracking, ***uniqueid***, wrap,
 *   alternatives, headers) → CRLF guard → DKIM (signed last, over the final bytes) → copy
 *
 * In passthrough mode only the relay's own X-Relay-* headers are removed (they are read at intake
 * and never leave the relay) and DKIM is added; the body is not touched.
 */
import { Readable } from "node:stream";
import type { Account } from "../accounts/schema.js";
import { signToken, type TokenKeyring } from "../tracking/token.js";
import { AlternativeCache } from "./alternative.js";
import { buildHeaderBlock, malformedLineOffset, newField, parseHeaderBlock } from "./header-block.js";
import { DEFAULT_LIMITS, type TransformLimits } from "./limits.js";
import { LinkTracker } from "./links.js";
import { ensureLastFieldEnds, MimeRewriter } from "./mime-rewriter.js";
import type { TransformNotice } from "./notices.js";
import { isRelayHeader } from "./relay-headers.js";
import {
  type HeaderRead,
  KeyCache,
  rewriteWithSplitter,
  signedWithDkim,
  splitHeaderBlock,
  withCrlfLines,
} from "./stream-stages.js";
import type { CopyEdits } from "./text-part.js";

export { AlternativeCache } from "./alternative.js";
export { KeyCache } from "./dkim.js";
export { DEFAULT_LIMITS, type TransformLimits } from "./limits.js";
export { DO_NOT_TRACK_ATTRIBUTE, type KeptLinkReason, UNIQUE_ID_MARKER } from "./links.js";
export type { TransformNotice, TransformNoticeCode } from "./notices.js";
export { RelayHeaderError, type RelayHeaders, readRelayHeaders } from "./relay-headers.js";

export interface TransformContext {
  mode: "full" | "passthrough";
  /** Relay message ID. */
  messageId: string;
  /** This copy's single recipient. */
  recipient: string;
  envelopeFrom: string;
  account: Account;
  /** e.g. https://t.example.com */
  trackingBaseUrl: string;
  tokenKeys: TokenKeyring;
  /** From X-Relay-Track; they can only turn the account's tracking off, never on. */
  overrides?: { opens?: boolean; clicks?: boolean };
  /** Why something was left unedited (a part, or the rest of the message); for the log. */
  onNotice?: (notice: TransformNotice) => void;
  /** Called once, when the copy has been produced. */
  onSummary?: (summary: TransformSummary) => void;
  /** Parsed DKIM keys, shared across copies (parsing a PEM costs more than signing). */
  keyCache?: KeyCache;
  /** Generated alternatives, shared across the copies of a message (html-to-text is costly). */
  alternatives?: AlternativeCache;
  limits?: Partial<TransformLimits>;
  /** Where copies bigger than limits.maxBufferedOutputBytes wait for their DKIM signature. */
  tmpDir?: string;
  /** DKIM t= (tests); now by default. */
  signTime?: Date;
}

export interface TransformSummary {
  /** A body part was rewritten or an alternative added (headers alone do not count). */
  bodyChanged: boolean;
  notices: TransformNotice[];
  /** "selector._domainkey.domain" of each signature added. */
  dkim: string[];
}

/** Streams the per-recipient copy: input is the spooled message as received (CRLF). */
export function transformForRecipient(source: Readable, ctx: TransformContext): Readable {
  return Readable.from(produceCopy(source, ctx), { objectMode: false });
}

async function* produceCopy(source: Readable, ctx: TransformContext): AsyncGenerator<Buffer> {
  const limits = { ...DEFAULT_LIMITS, ...ctx.limits };
  const summary: TransformSummary = { bodyChanged: false, notices: [], dkim: [] };
  const notify = (notice: TransformNotice) => {
    summary.notices.push(notice);
    ctx.onNotice?.(notice);
  };
  const read = await splitHeaderBlock(withCrlfLines(source), limits.maxTotalHeaderBytes);
  let edited: AsyncGenerator<Buffer>;
  let rewriter: MimeRewriter | undefined;
  if (malformedLineOffset(read.header) !== -1) {
    // No edit is safe where readers disagree which lines are header: only DKIM (below) and the
    // Received the delivery prepends are added, both above every line of the message.
    notify({ code: "malformed-header-block" });
    edited = unchanged(read);
  } else if (ctx.mode === "passthrough") {
    edited = passthroughCopy(read, limits);
  } else {
    const base = withoutTrailingSlashes(ctx.trackingBaseUrl);
    const claims = { messageId: ctx.messageId, recipient: ctx.recipient };
    const unsubscribeToken = signToken(ctx.tokenKeys, { kind: "unsub", ...claims });
    const tracking = ctx.account.tracking;
    const clicks = tracking.clicks && ctx.overrides?.clicks !== false;
    const opens = tracking.opens && ctx.overrides?.opens !== false;
    const edits: CopyEdits = {
      unsubscribeToken,
      links: new LinkTracker({
        enabled: clicks,
        trackingBaseUrl: base,
        signClick: (linkIndex, url) => signToken(ctx.tokenKeys, { kind: "click", ...claims, linkIndex, url }),
      }),
      pixelUrl: opens ? `${base}/o/${signToken(ctx.tokenKeys, { kind: "open", ...claims })}.gif` : undefined,
      textClicks: clicks && tracking.textClicks,
      wrapColumn: ctx.account.wrapColumn,
    };
    rewriter = new MimeRewriter({
      edits,
      autoAlternative: ctx.account.autoAlternative,
      editRootHeader: (raw) => editRootHeader(raw, `${base}/u/${unsubscribeToken}`),
      limits,
      notify,
      alternatives: ctx.alternatives ?? new AlternativeCache(1),
    });
    edited = rewriteWithSplitter(unchanged(read), rewriter, limits);
  }
  yield* signedWithDkim(withCrlfLines(edited, true), {
    keys: ctx.account.dkim,
    keyCache: ctx.keyCache ?? new KeyCache(),
    limits,
    tmpDir: ctx.tmpDir,
    signTime: ctx.signTime,
    onSigned: (names) => summary.dkim.push(...names),
  });
  summary.bodyChanged = rewriter?.bodyChanged ?? false;
  ctx.onSummary?.(summary);
}

async function* passthroughCopy(
  { header, complete, rest }: HeaderRead,
  limits: TransformLimits,
): AsyncGenerator<Buffer> {
  yield complete || header.length <= limits.maxTotalHeaderBytes ? editRootHeader(header) : header;
  yield* rest;
}

/** The message as it came: the header block read ahead, then the rest. */
async function* unchanged({ header, rest }: HeaderRead): AsyncGenerator<Buffer> {
  if (header.length > 0) yield header;
  yield* rest;
}

/**
 * The top header block of a copy: X-Relay-* removed; in full mode, the sender's List-Unsubscribe
 * fields replaced by the relay's (RFC 8058 one-click), since the relay's unsubscribe is the one
 * that feeds the suppression list. Every other field keeps its exact bytes. Added fields go at
 * the top, never between the sender's (docs/transform.md).
 */
export function editRootHeader(raw: Buffer, unsubscribeUrl?: string): Buffer {
  const block = parseHeaderBlock(raw);
  const replaced = unsubscribeUrl
    ? new Set(["list-unsubscribe", "list-unsubscribe-post"])
    : new Set<string>();
  const kept = block.fields.filter((field) => !isRelayHeader(field.name) && !replaced.has(field.name));
  if (kept.length === block.fields.length && !unsubscribeUrl) return raw;
  block.fields = kept;
  // A message that is all header gets its empty line, so what follows can never join the header.
  if (block.terminator.length === 0) {
    ensureLastFieldEnds(block.fields);
    block.terminator = Buffer.from("\r\n");
  }
  if (unsubscribeUrl) {
    block.fields.unshift(
      newField("List-Unsubscribe", `<${unsubscribeUrl}>`),
      newField("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    );
  }
  return buildHeaderBlock(block);
}

/** "https://t.example.com//" without its trailing slashes (by hand: /\/+$/ is quadratic on "////x"). */
function withoutTrailingSlashes(url: string): string {
  let end = url.length;
  while (end > 0 && url[end - 1] === "/") end--;
  return url.slice(0, end);
}
