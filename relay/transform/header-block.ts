/**
 * Header blocks as raw bytes. Fields the relay does not change are copied byte for byte: never
 * unfolded, decoded or re-folded (RFC 2047 words, 8-bit bytes and odd folding all survive).
 */
import { parseHeaderFields, splitHeaderBody } from "../mail/header-fields.js";

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

/**
 * The block's fields as the shared reader splits them (relay/mail/header-fields.ts), each kept as
 * its own bytes. Read as latin1: one character per byte, so the offsets are byte offsets.
 */
export function parseHeaderBlock(raw: Buffer): HeaderBlock {
  const text = raw.toString("latin1");
  const fields: HeaderField[] = [];
  let offset = 0;
  for (const field of parseHeaderFields(text)) {
    fields.push({ name: field.name, raw: raw.subarray(offset, offset + field.raw.length) });
    offset += field.raw.length;
  }
  const { bodyStart } = splitHeaderBody(text);
  const terminator = raw.subarray(offset, bodyStart);
  // Anything after the empty line is not header; keep it attached so nothing is lost.
  if (bodyStart < raw.length) fields.push({ name: "", raw: raw.subarray(bodyStart) });
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
  // latin1: one character per byte, so the offset is a byte offset.
  let offset = 0;
  for (const field of parseHeaderFields(raw.toString("latin1"))) {
    if (field.name === "") return offset;
    offset += field.raw.length;
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
