// The parts of mailsplit 5.4 (CommonJS, untyped) that the transform uses.
declare module "mailsplit" {
  import { Transform } from "node:stream";

  export interface MimeNode {
    type: "node";
    root: boolean;
    parentNode: MimeNode | false;
    /** Lower-cased Content-Type value, e.g. "text/html"; false when unparseable. */
    contentType: string | false;
    /** Lower-cased Content-Transfer-Encoding without comments; "" when absent. */
    encoding: string;
    charset: string | false;
    disposition: string | false;
    filename: string | false;
    /** The multipart subtype ("mixed", ...) or false. */
    multipart: string | false;
    _boundary: Buffer | false;
    flowed: boolean;
    delSp: boolean;
    /** The raw header block, unchanged unless someone edits the node's headers. */
    getHeaders(): Buffer;
  }

  export interface BodyChunk {
    type: "body" | "data";
    node: MimeNode;
    value: Buffer;
  }

  export type SplitterObject = MimeNode | BodyChunk;

  export interface SplitterOptions {
    maxHeadSize?: number;
    maxChildNodes?: number;
    ignoreEmbedded?: boolean;
  }

  export class Splitter extends Transform {
    constructor(options?: SplitterOptions);
    /** The node being read. */
    protected node: MimeNode | undefined;
    /** 1-2: this node's boundary (next part, end); 3-4: the parent's; false: not a boundary. */
    checkBoundary(line: Buffer): false | 1 | 2 | 3 | 4;
    /** 1: next part; 2: end of the multipart; false: not this boundary. */
    compareBoundary(line: Buffer, start: number, boundary: Buffer): false | 1 | 2;
  }
}
