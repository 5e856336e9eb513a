/**
 * The bytes of the small messages the spool accepted last, kept in memory so the copy stage
 * reads none of them back from disk: their instructions at admission and their copies are made
 * from what the intake just wrote. Bounded per message and in total; the least recently used
 * go first, and a message leaves when the spool removes it. Only ever a shortcut: whatever is
 * not here is read from its spool file, as before.
 */

export interface RecentMessagesLimits {
  /** Larger messages are never kept. */
  maxMessageBytes: number;
  /** All kept messages together. */
  maxTotalBytes: number;
}

export const RECENT_MESSAGES_LIMITS: RecentMessagesLimits = {
  maxMessageBytes: 64 * 1024,
  maxTotalBytes: 32 * 1024 * 1024,
};

export class RecentMessages {
  /** By spool file path, in use order, least recent first (a Map keeps insertion order). */
  private readonly kept = new Map<string, Buffer>();
  private totalBytes = 0;

  constructor(readonly limits: RecentMessagesLimits = RECENT_MESSAGES_LIMITS) {}

  /** Whether a message of `size` bytes would be kept. */
  fits(size: number): boolean {
    return size <= this.limits.maxMessageBytes && size <= this.limits.maxTotalBytes;
  }

  /**
   * Keeps a copy of `parts` (the message's bytes in order) in a buffer of its own, not Node's
   * shared pool, so handing it to a worker thread copies this message alone.
   */
  keep(path: string, parts: readonly Buffer[], size: number): void {
    if (!this.fits(size)) return;
    this.drop(path);
    const bytes = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const part of parts) at += part.copy(bytes, at);
    this.kept.set(path, bytes.subarray(0, at));
    this.totalBytes += at;
    for (const [oldest, old] of this.kept) {
      if (this.totalBytes <= this.limits.maxTotalBytes) break;
      this.kept.delete(oldest);
      this.totalBytes -= old.length;
    }
  }

  /** The bytes of the message in the spool file at `path`, when still kept. */
  get(path: string): Buffer | undefined {
    const bytes = this.kept.get(path);
    if (bytes) {
      this.kept.delete(path);
      this.kept.set(path, bytes);
    }
    return bytes;
  }

  drop(path: string): void {
    const bytes = this.kept.get(path);
    if (!bytes) return;
    this.kept.delete(path);
    this.totalBytes -= bytes.length;
  }

  /** Bytes kept now (tests). */
  get size(): number {
    return this.totalBytes;
  }
}
