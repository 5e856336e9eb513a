/**
 * Why a part (or the rest of a message) went out without the edits the account asked for.
 * The transform never fails for these; the caller logs them.
 */
import type { UndecodableReason } from "./encoding.js";

export type TransformNoticeCode =
  | UndecodableReason
  /** The part's charset is not ASCII-compatible (UTF-16/32, UTF-7, EBCDIC): not edited. */
  | "unsupported-charset"
  /** A text part bigger than limits.maxRewritePartBytes: copied as is. */
  | "part-too-large"
  /** Inside multipart/signed or encrypted content: editing would break the signature. */
  | "signed-content"
  /** A multipart with no boundary parameter: its body is copied as is. */
  | "multipart-without-boundary"
  /** More parts than limits.maxParts: the rest of the message is copied as is. */
  | "part-limit"
  /** Nested deeper than limits.maxDepth: the rest of the message is copied as is. */
  | "depth-limit"
  /** More header bytes than limits.maxTotalHeaderBytes: the rest of the message is copied as is. */
  | "header-limit"
  /** The body text is too big to generate an alternative from (html-to-text input cap). */
  | "alternative-source-too-large"
  /**
   * The top header block has a line that is neither a field nor a continuation: readers disagree
   * where the body starts, so the whole message is copied as is (DKIM added; docs/transform.md).
   */
  | "malformed-header-block";

export interface TransformNotice {
  code: TransformNoticeCode;
  /** "#3 text/html": the part's position in the message and its type. */
  part?: string;
}
