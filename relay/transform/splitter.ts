/**
 * mailsplit's Splitter, with two fixes that keep its idea of the MIME tree the same as other
 * parsers' (mailparser's, the recipient's), so the rewrite never edits across a part boundary:
 * - RFC 2046 §5.1.1 lets a boundary line carry trailing whitespace ("transport padding"). Stock
 *   mailsplit does not see "--b  " as a boundary and would read the parts after it as the body
 *   of the part before.
 * - A boundary= parameter on a part that is not multipart (text/html; boundary=...) means
 *   nothing; stock mailsplit still splits that part's body on it.
 */
import { Splitter, type SplitterOptions } from "mailsplit";

const DASH = 0x2d;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
/** Longest padding accepted after a boundary (anything longer is not a boundary line). */
const MAX_PADDING = 256;

export class MimeSplitter extends Splitter {
  constructor(options?: SplitterOptions) {
    super(options);
  }

  override checkBoundary(line: Buffer): false | 1 | 2 | 3 | 4 {
    const node = this.node;
    if (node && !node.multipart && node._boundary) node._boundary = false;
    return super.checkBoundary(line);
  }

  /** 1: the boundary opens the next part; 2: it closes the multipart; false: not this boundary. */
  override compareBoundary(line: Buffer, start: number, boundary: Buffer): false | 1 | 2 {
    if (
      line.length < boundary.length + 3 + start ||
      line.length > boundary.length + 6 + start + MAX_PADDING
    ) {
      return false;
    }
    for (let i = 0; i < boundary.length; i++) {
      if (line[i + 2 + start] !== boundary[i]) return false;
    }
    let i = boundary.length + 2 + start;
    let result: 1 | 2 = 1;
    if (line[i] === DASH && line[i + 1] === DASH) {
      result = 2;
      i += 2;
    }
    while (line[i] === SPACE || line[i] === TAB) i++;
    if (line[i] === CR) i++;
    if (i === line.length) return result;
    return line[i] === LF && i === line.length - 1 ? result : false;
  }
}
