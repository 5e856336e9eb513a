/**
 * Header blocks as raw bytes. Fields the relay does not change are copied byte for byte: never
 * unfolded, decoded or re-folded (RFC 2047 words, 8-bit bytes and odd folding all survive).
 */

export interface HeaderField {
  /** Lower-cased field name; "" for a line that is not a field (an mbox "From " line, garbage). */
  name: string;
  /** The field's bytes, continuation lines and line endings included. */
  raw: Buffer;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** The empty line that ends the block ("\r\n"), or empty when the block ran to the end of input. */
  terminator: Buffer;
}

const LF = 0x0a;

export function parseHeaderBlock(raw: Buffer): HeaderBlock {
  const fields: HeaderField[] = [];
  let terminator: Buffer = Buffer.alloc(0);
  let offset = 0;
  let lastStart = 0;
  while (offset < raw.length) {
    const lf = raw.indexOf(LF, offset);
    const end = lf === -1 ? raw.length : lf + 1;
    const line = raw.subarray(offset, end);
    if (isEmptyLine(line)) {
      terminator = raw.subarray(offset, end);
      // Anything after the empty line is not header; keep it attached so nothing is lost.
      if (end < raw.length) fields.push({ name: "", raw: raw.subarray(end) });
      break;
    }
    const first = line[0];
    const last = fields[fields.length - 1];
    if ((first === 0x20 || first === 0x09) && last) {
      last.raw = raw.subarray(lastStart, end);
    } else {
      fields.push({ name: fieldName(line), raw: line });
      lastStart = offset;
    }
    offset = end;
  }
  return { fields, terminator };
}

/**
 * Where the first line of the block is that is neither a field ("name:") nor a continuation (a
 * space or tab after a field), e.g. "--foo" or an mbox "From " line; -1 when there is none.
 * Readers disagree where the body of such a message starts (Python's email takes it as the body,
 * with a MissingHeaderBodySeparatorDefect; others read on), so the relay edits nothing in it
 * (docs/transform.md). Only lines before the empty line that ends the block count.
 */
export function malformedLineOffset(raw: Buffer): number {
  let offset = 0;
  let afterField = false;
  while (offset < raw.length) {
    const lf = raw.indexOf(LF, offset);
    const end = lf === -1 ? raw.length : lf + 1;
    const line = raw.subarray(offset, end);
    if (isEmptyLine(line)) return -1;
    const continuation = line[0] === 0x20 || line[0] === 0x09;
    if (continuation ? !afterField : fieldName(line) === "") return offset;
    afterField = true;
    offset = end;
  }
  return -1;
}

export function buildHeaderBlock(block: HeaderBlock): Buffer {
  return Buffer.concat([...block.fields.map((field) => field.raw), block.terminator]);
}

/** A new field, folded only at the commas we choose; value must be printable ASCII. */
export function newField(name: string, value: string): HeaderField {
  if (/[^\x20-\x7e]/.test(value) || !/^[A-Za-z0-9-]+$/.test(name)) {
    throw new Error(`refusing to write header ${name}: not printable ASCII`);
  }
  return { name: name.toLowerCase(), raw: Buffer.from(`${name}: ${value}\r\n`, "latin1") };
}

/** The unfolded value of a field, as latin1 text (bytes preserved one to one). */
export function fieldValue(field: HeaderField): string {
  const text = field.raw.toString("latin1");
  const colon = text.indexOf(":");
  return text
    .slice(colon + 1)
    .replace(/\r?\n(?=[ \t])/g, "")
    .replace(/\r?\n$/, "")
    .trim();
}

function isEmptyLine(line: Buffer): boolean {
  return (line.length === 2 && line[0] === 0x0d && line[1] === LF) || (line.length === 1 && line[0] === LF);
}

function fieldName(line: Buffer): string {
  const text = line.toString("latin1");
  const colon = text.indexOf(":");
  if (colon <= 0) return "";
  const name = text.slice(0, colon);
  // RFC 5322 ftext; "From foo" (mbox) and other non-fields get no name.
  return /^[\x21-\x39\x3b-\x7e]+$/.test(name.trimEnd()) ? name.trimEnd().toLowerCase() : "";
}
