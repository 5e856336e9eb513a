/**
 * Bounds that keep one hostile message from taking the relay's memory or CPU
 * (memory: a huge header or part; CPU: HTML to text). Past a limit the rest of the message is copied as it came.
 */
export interface TransformLimits {
  /** One node's header block (mailsplit `maxHeadSize`); a bigger one fails the transform. */
  maxNodeHeaderBytes: number;
  /** All header blocks together. */
  maxTotalHeaderBytes: number;
  /** MIME parts (Postfix and mailsplit use 1000 as the default part limit). */
  maxParts: number;
  /** Multipart nesting (Postfix `mime_nesting_limit` 100). */
  maxDepth: number;
  /** Encoded size of a text part held in memory to be rewritten; bigger parts go out untouched. */
  maxRewritePartBytes: number;
  /** Transformed output held in memory for DKIM before it spills to a temporary file. */
  maxBufferedOutputBytes: number;
}

export const DEFAULT_LIMITS: TransformLimits = {
  maxNodeHeaderBytes: 1024 * 1024,
  maxTotalHeaderBytes: 4 * 1024 * 1024,
  maxParts: 1000,
  maxDepth: 100,
  maxRewritePartBytes: 4 * 1024 * 1024,
  maxBufferedOutputBytes: 8 * 1024 * 1024,
};
