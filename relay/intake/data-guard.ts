/**
 * Checks and normalises the DATA stream on its way to the spool, in one pass
 * with bounded memory:
 *
 * - SMTP smuggling (CVE-2023-51764/5/6): smtp-server ends DATA only at
 *   CRLF.CRLF, so a bare-LF or bare-CR "." line stays inside the message —
 *   where a next hop that accepts bare line ends could take it for the end of
 *   data and run the rest as a second message. A "." line with a bare line
 *   end on either side is refused (550 5.5.2); we reject rather than
 *   normalise because there is no innocent reason to send one.
 * - Every other bare LF or bare CR becomes CRLF, so nothing downstream
 *   (DKIM, the next hop) ever sees a stray line end (Postfix 3.9 does this).
 * - NUL bytes are refused (Postfix `message_reject_characters = \0`).
 * - The header block is capped (1 MiB) and its Received: lines counted
 *   (over 100 is a mail loop), and it is kept for the intake to read
 *   Subject, Message-ID, From and X-Relay-* from.
 * - The size is counted; past the limit output stops (the intake answers 552).
 */

export type DataProblem =
  | { code: "smuggling"; message: string }
  | { code: "nul"; message: string }
  | { code: "header_too_large"; message: string }
  | { code: "too_many_hops"; message: string }
  | { code: "too_large"; message: string };

export interface DataGuardLimits {
  maxBytes: number;
  maxHeaderBytes?: number;
  maxReceived?: number;
}

const CR = 13;
const LF = 10;
const DOT = 46;
const CRLF = Buffer.from("\r\n");
const BLANK_LINE = Buffer.from("\r\n\r\n");

export class DataGuard {
  problem: DataProblem | undefined;
  /** Bytes received (before normalisation). */
  bytesIn = 0;
  /** The header block (up to the blank line, or all of a message without a body), once complete. */
  header: Buffer | undefined;

  private readonly maxHeaderBytes: number;
  private readonly maxReceived: number;
  private pendingCR = false;
  private previousEndBare = false;
  /** Bytes of the current line seen so far, capped at 2: only "is it exactly '.'?" matters. */
  private lineLength = 0;
  private lineIsDot = false;
  private inHeader = true;
  private headerParts: Buffer[] = [];
  private headerBytes = 0;
  /** The last bytes of the header so far, to find a blank line split across chunks. */
  private headerTail: Buffer = Buffer.alloc(0);

  constructor(private readonly limits: DataGuardLimits) {
    this.maxHeaderBytes = limits.maxHeaderBytes ?? 1024 * 1024;
    this.maxReceived = limits.maxReceived ?? 100;
  }

  /** Feeds a chunk; returns the normalised bytes to store (empty once a problem is found). */
  feed(chunk: Buffer): Buffer[] {
    this.bytesIn += chunk.length;
    if (this.problem) return [];
    if (this.bytesIn > this.limits.maxBytes) {
      this.fail("too_large", `message exceeds the size limit of ${this.limits.maxBytes} bytes`);
      return [];
    }
    if (chunk.indexOf(0) !== -1) {
      this.fail("nul", "message contains NUL characters");
      return [];
    }
    const out: Buffer[] = [];
    let segmentStart = 0;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (chunk[0] === LF) {
        out.push(CRLF);
        this.lineEnd(false);
        segmentStart = i = 1;
      } else {
        out.push(CRLF);
        this.lineEnd(true);
      }
    }
    // Cached search positions keep the scan linear even when one of CR/LF never occurs.
    let nextLF = -2;
    let nextCR = -2;
    while (i < chunk.length && !this.problem) {
      if (nextLF !== -1 && nextLF < i) nextLF = chunk.indexOf(LF, i);
      if (nextCR !== -1 && nextCR < i) nextCR = chunk.indexOf(CR, i);
      const next = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      if (next === -1) {
        this.lineContent(chunk.subarray(i));
        break;
      }
      this.lineContent(chunk.subarray(i, next));
      if (chunk[next] === CR) {
        if (next + 1 === chunk.length) {
          // Whether this CR is part of CRLF is known only with the next chunk.
          out.push(chunk.subarray(segmentStart, next));
          this.pendingCR = true;
          segmentStart = i = chunk.length;
          break;
        }
        if (chunk[next + 1] === LF) {
          this.lineEnd(false);
          i = next + 2;
          continue;
        }
        // Bare CR: store CRLF instead.
        out.push(chunk.subarray(segmentStart, next), CRLF);
        this.lineEnd(true);
        segmentStart = i = next + 1;
        continue;
      }
      // Bare LF.
      out.push(chunk.subarray(segmentStart, next), CRLF);
      this.lineEnd(true);
      segmentStart = i = next + 1;
    }
    if (this.problem) return [];
    if (segmentStart < chunk.length) out.push(chunk.subarray(segmentStart));
    if (this.inHeader) this.collectHeader(out);
    return out;
  }

  /** Call at the end of DATA; returns any last bytes to store. */
  end(): Buffer[] {
    if (this.problem) return [];
    const out: Buffer[] = [];
    if (this.pendingCR) {
      this.pendingCR = false;
      out.push(CRLF);
      this.lineEnd(true);
    }
    if (this.inHeader) this.collectHeader(out);
    // A message may be all header and no body (RFC 5322 §3.5): the header ends with the data.
    if (this.inHeader && !this.problem) this.finishHeader(Buffer.concat(this.headerParts));
    return this.problem ? [] : out;
  }

  private fail(code: DataProblem["code"], message: string): void {
    this.problem ??= { code, message };
  }

  private lineContent(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.lineLength === 0) this.lineIsDot = bytes.length === 1 && bytes[0] === DOT;
    else this.lineIsDot = false;
    this.lineLength += bytes.length;
  }

  private lineEnd(bare: boolean): void {
    if (this.lineIsDot && this.lineLength === 1 && (bare || this.previousEndBare)) {
      this.fail("smuggling", "bare CR or LF around a '.' line (SMTP smuggling); send CRLF line endings");
    }
    this.previousEndBare = bare;
    this.lineLength = 0;
    this.lineIsDot = false;
  }

  /** Appends normalised (CRLF-only) output to the header block until the blank line that ends it. */
  private collectHeader(out: Buffer[]): void {
    for (const part of out) {
      if (!this.inHeader) return;
      if (part.length === 0) continue;
      if (this.headerBytes === 0 && part[0] === CR && part[1] === LF) {
        this.finishHeader(Buffer.alloc(0));
        return;
      }
      const joined = this.headerTail.length > 0 ? Buffer.concat([this.headerTail, part]) : part;
      const blank = joined.indexOf(BLANK_LINE);
      const kept = blank === -1 ? part : part.subarray(0, blank + BLANK_LINE.length - this.headerTail.length);
      this.headerBytes += kept.length;
      if (this.headerBytes > this.maxHeaderBytes) {
        this.fail("header_too_large", `message header exceeds ${this.maxHeaderBytes} bytes`);
        this.headerParts = [];
        return;
      }
      this.headerParts.push(kept);
      if (blank !== -1) {
        this.finishHeader(Buffer.concat(this.headerParts));
        return;
      }
      this.headerTail = joined.subarray(Math.max(0, joined.length - 3));
    }
  }

  private finishHeader(header: Buffer): void {
    this.inHeader = false;
    this.header = header;
    this.headerParts = [];
    const received = header.toString("latin1").match(/^received:/gim)?.length ?? 0;
    if (received > this.maxReceived) {
      this.fail(
        "too_many_hops",
        `too many Received: headers (${received}, over ${this.maxReceived}): mail loop?`,
      );
    }
  }
}
