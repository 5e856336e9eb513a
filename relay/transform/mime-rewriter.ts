/**
 * The per-copy MIME rewrite over mailsplit's stream of nodes and body chunks. Every object the
 * rewrite does not touch is written out as the very bytes it was read as; a text part is held
 * back (up to a cap), rewritten by text-part.ts and written in its own encoding.
 */
import type { BodyChunk, MimeNode, SplitterObject } from "mailsplit";
import {
  type AlternativeCache,
  generatedPart,
  htmlFromText,
  MAX_ALTERNATIVE_SOURCE_CHARS,
  newBoundary,
  textFromHtml,
} from "./alternative.js";
import { transferEncodingOf } from "./encoding.js";
import { buildHeaderBlock, newField, parseHeaderBlock } from "./header-block.js";
import { insertOpenPixel, rewriteHtmlLinks } from "./html.js";
import type { TransformLimits } from "./limits.js";
import { UNIQUE_ID_MARKER } from "./links.js";
import type { TransformNotice } from "./notices.js";
import { rewriteTextLinks } from "./plain.js";
import { type CopyEdits, rewriteTextPart, type TextPartInfo } from "./text-part.js";

export interface RewriterOptions {
  edits: CopyEdits;
  autoAlternative: boolean;
  /** Applied to the root header block (X-Relay-* removal, List-Unsubscribe). */
  editRootHeader: (raw: Buffer) => Buffer;
  limits: TransformLimits;
  notify: (notice: TransformNotice) => void;
  alternatives: AlternativeCache;
}

interface PendingPart {
  node: MimeNode;
  label: string;
  header: Buffer;
  chunks: Buffer[];
  size: number;
  info: TextPartInfo;
  alternative: boolean;
}

const SIGNED_OR_ENCRYPTED = new Set(["multipart/signed", "multipart/encrypted", "application/pkcs7-mime"]);

export class MimeRewriter {
  /** Set once a limit is passed: everything from here on is copied, and the driver stops splitting. */
  wantsRawInput = false;
  private pending: PendingPart | undefined;
  private parts = 0;
  private headerBytes = 0;
  private readonly childCounts = new WeakMap<MimeNode, number>();
  private signedNoticeSent = false;
  /** True once any body part was rewritten or added (for the caller's accounting). */
  bodyChanged = false;

  constructor(private readonly options: RewriterOptions) {}

  handle(object: SplitterObject): Buffer[] {
    if (object.type === "node") return this.handleNode(object);
    return this.handleChunk(object);
  }

  /** End of input: a part still held back goes out now. */
  finish(): Buffer[] {
    return this.finishPending();
  }

  private handleNode(node: MimeNode): Buffer[] {
    const out = this.finishPending();
    this.parts++;
    let header = node.getHeaders();
    this.headerBytes += header.length;
    if (node.root) header = this.options.editRootHeader(header);
    if (!this.wantsRawInput) this.checkLimits(node);
    if (this.wantsRawInput) {
      out.push(header);
      return out;
    }
    if (node.parentNode)
      this.childCounts.set(node.parentNode, (this.childCounts.get(node.parentNode) ?? 0) + 1);
    if (node.multipart && !node._boundary) {
      this.options.notify({ code: "multipart-without-boundary", part: this.label(node) });
    }
    const info = this.textPartInfo(node);
    if (!info) {
      out.push(header);
      return out;
    }
    this.pending = {
      node,
      label: this.label(node),
      header,
      chunks: [],
      size: 0,
      info,
      alternative: this.options.autoAlternative && this.isMessageBody(node),
    };
    return out;
  }

  private handleChunk(chunk: BodyChunk): Buffer[] {
    const pending = this.pending;
    if (pending && chunk.type === "body" && chunk.node === pending.node) {
      pending.chunks.push(chunk.value);
      pending.size += chunk.value.length;
      if (pending.size <= this.options.limits.maxRewritePartBytes) return [];
      // Too big to hold: it goes out as it came, and so does the rest of it.
      this.pending = undefined;
      this.options.notify({ code: "part-too-large", part: pending.label });
      return [pending.header, ...pending.chunks];
    }
    const out = this.finishPending();
    out.push(chunk.value);
    return out;
  }

  private checkLimits(node: MimeNode): void {
    const { maxParts, maxDepth, maxTotalHeaderBytes } = this.options.limits;
    let depth = 0;
    for (let parent = node.parentNode; parent; parent = parent.parentNode) depth++;
    const code =
      this.parts > maxParts
        ? "part-limit"
        : depth > maxDepth
          ? "depth-limit"
          : this.headerBytes > maxTotalHeaderBytes
            ? "header-limit"
            : undefined;
    if (!code) return;
    this.wantsRawInput = true;
    this.options.notify({ code, part: this.label(node) });
  }

  /** A text part this copy may rewrite, or undefined. */
  private textPartInfo(node: MimeNode): TextPartInfo | undefined {
    if (node.multipart) return undefined;
    const type = node.contentType || "text/plain";
    if (type !== "text/plain" && type !== "text/html") return undefined;
    // Only inline body text: any other disposition (attachment, or one we cannot read) is a file.
    if ((node.disposition && node.disposition !== "inline") || node.filename) return undefined;
    if (this.insideSignedContent(node)) {
      if (!this.signedNoticeSent) this.options.notify({ code: "signed-content", part: this.label(node) });
      this.signedNoticeSent = true;
      return undefined;
    }
    const encoding = transferEncodingOf(node.encoding);
    if (!encoding) {
      this.options.notify({ code: "unknown-transfer-encoding", part: this.label(node) });
      return undefined;
    }
    return {
      kind: type === "text/html" ? "html" : "plain",
      encoding,
      charset: node.charset,
      flowed: node.flowed,
      delSp: node.delSp,
    };
  }

  /** Rewriting inside a signed or encrypted multipart would break its signature. */
  private insideSignedContent(node: MimeNode): boolean {
    for (let current: MimeNode | false = node; current; current = current.parentNode) {
      if (current.contentType && SIGNED_OR_ENCRYPTED.has(current.contentType)) return true;
    }
    return false;
  }

  /** The message's body text: the root itself, or the first part of a top-level multipart/mixed. */
  private isMessageBody(node: MimeNode): boolean {
    if (node.root) return true;
    const parent = node.parentNode || undefined;
    return Boolean(parent?.root && parent.multipart === "mixed" && this.childCounts.get(parent) === 1);
  }

  private label(node: MimeNode): string {
    return `#${this.parts} ${node.contentType || "text/plain"}`;
  }

  private finishPending(): Buffer[] {
    const pending = this.pending;
    if (!pending) return [];
    this.pending = undefined;
    const raw = Buffer.concat(pending.chunks, pending.size);
    const outcome = rewriteTextPart(pending.info, raw, this.options.edits);
    if (outcome.status === "skipped") {
      this.options.notify({ code: outcome.reason, part: pending.label });
      return [pending.header, raw];
    }
    let header = pending.header;
    if (outcome.newEncoding) header = setTransferEncoding(header, outcome.newEncoding);
    const body = outcome.body ?? raw;
    if (outcome.status === "rewritten") this.bodyChanged = true;
    if (!pending.alternative) return [header, body];

    const source = outcome.unicodeSource();
    if (source.length > MAX_ALTERNATIVE_SOURCE_CHARS) {
      this.options.notify({ code: "alternative-source-too-large", part: pending.label });
      return [header, body];
    }
    this.bodyChanged = true;
    const generated = this.generateAlternative(pending.info, source);
    return wrapInAlternative(header, body, generated, pending.info.kind, pending.node.root);
  }

  /** Made once per source (cached), then given this copy's ***uniqueid*** and tracking. */
  private generateAlternative(info: TextPartInfo, source: string): Buffer {
    const { edits, alternatives } = this.options;
    const withToken = (text: string) => text.split(UNIQUE_ID_MARKER).join(edits.unsubscribeToken);
    if (info.kind === "plain") {
      const kind = `html:${info.flowed}:${info.delSp}`;
      const generated = alternatives.getOrMake(kind, source, () => htmlFromText(source, info));
      let html = withToken(rewriteHtmlLinks(generated, edits.links, (text) => text));
      if (edits.pixelUrl) html = insertOpenPixel(html, edits.pixelUrl);
      return generatedPart("text/html", html);
    }
    let text = alternatives.getOrMake(`text:${edits.wrapColumn}`, source, () =>
      textFromHtml(source, edits.wrapColumn),
    );
    if (edits.textClicks) text = rewriteTextLinks(text, edits.links);
    return generatedPart("text/plain", withToken(text));
  }
}

/** Replaces (or adds) Content-Transfer-Encoding in a part's header block, at its top as every field we write. */
export function setTransferEncoding(header: Buffer, encoding: string): Buffer {
  const block = parseHeaderBlock(header);
  block.fields = block.fields.filter((field) => field.name !== "content-transfer-encoding");
  ensureLastFieldEnds(block.fields);
  block.fields.unshift(newField("Content-Transfer-Encoding", encoding));
  if (block.terminator.length === 0) block.terminator = Buffer.from("\r\n");
  return buildHeaderBlock(block);
}

export function ensureLastFieldEnds(fields: { raw: Buffer }[]): void {
  const last = fields[fields.length - 1];
  if (last && last.raw[last.raw.length - 1] !== 0x0a)
    last.raw = Buffer.concat([last.raw, Buffer.from("\r\n")]);
}

/**
 * The sender's part and the generated one as a multipart/alternative (plain first, HTML last,
 * RFC 2046 §5.1.4). For the root, content headers move into the inner part; the rest stay.
 */
function wrapInAlternative(
  header: Buffer,
  body: Buffer,
  generated: Buffer,
  kind: "html" | "plain",
  root: boolean,
): Buffer[] {
  const boundary = newBoundary();
  const contentType = `Content-Type: multipart/alternative;\r\n boundary="${boundary}"\r\n`;
  let outer: Buffer;
  let inner: Buffer;
  if (root) {
    const block = parseHeaderBlock(header);
    ensureLastFieldEnds(block.fields);
    const content = block.fields.filter((field) => field.name.startsWith("content-"));
    const rest = block.fields.filter((field) => !field.name.startsWith("content-"));
    // The fields the relay writes go at the top, above the sender's (docs/transform.md).
    const added = rest.some((field) => field.name === "mime-version")
      ? []
      : [newField("MIME-Version", "1.0")];
    outer = Buffer.concat([
      ...added.map((field) => field.raw),
      Buffer.from(contentType),
      ...rest.map((field) => field.raw),
      Buffer.from("\r\n"),
    ]);
    inner = Buffer.concat([...content.map((field) => field.raw), Buffer.from("\r\n")]);
  } else {
    outer = Buffer.from(`${contentType}\r\n`);
    inner = header;
  }
  const senderPart = Buffer.concat([inner, withoutFinalBreak(body)]);
  const generatedBody = withoutFinalBreak(generated);
  const [first, second] = kind === "plain" ? [senderPart, generatedBody] : [generatedBody, senderPart];
  return [
    outer,
    Buffer.from(`--${boundary}\r\n`),
    first,
    Buffer.from(`\r\n--${boundary}\r\n`),
    second,
    Buffer.from(`\r\n--${boundary}--${root ? "\r\n" : ""}`),
  ];
}

function withoutFinalBreak(bytes: Buffer): Buffer {
  return bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a
    ? bytes.subarray(0, bytes.length - 2)
    : bytes;
}
