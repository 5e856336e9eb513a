/**
 * The relay's one reader of header fields (RFC 5322 §2.2): where a header block ends, its
 * fields with their raw lines and unfolded values, and a lookup by name. Pure, on text the
 * caller decoded: latin1 where bytes must map one to one (offsets are then byte offsets),
 * UTF-8 where a value is read as text. Plain scans, linear in the input.
 */

export interface HeaderField {
  /** Lower-cased field name; "" for a line that is not a field (an mbox "From " line, garbage). */
  name: string;
  /** The field's lines as they were: continuation lines and line breaks included. */
  raw: string;
  /**
   * Unfolded (RFC 5322 §2.2.3: a line break before a space or tab removed, the blank kept), then
   * without blanks (space, tab, CR, LF) at either end; "" for a line that is not a field.
   */
  value: string;
}

/** Where the line starting at `from` ends: after its LF, or at the end of the text. */
function lineEnd(text: string, from: number): number {
  const lf = text.indexOf("\n", from);
  return lf === -1 ? text.length : lf + 1;
}

/** An empty line: CRLF or a bare LF alone, nothing before it. */
function isEmptyLine(text: string, start: number, end: number): boolean {
  const length = end - start;
  return (
    (length === 1 && text[start] === "\n") ||
    (length === 2 && text[start] === "\r" && text[start + 1] === "\n")
  );
}

function isBlank(char: string | undefined): boolean {
  return char === " " || char === "\t";
}

/**
 * Where the top header block of `text` ends: the offset of the empty line (CRLF or bare LF) that
 * ends it, after its last field's line break; -1 when there is none.
 */
export function headerBlockEnd(text: string): number {
  let offset = 0;
  while (offset < text.length) {
    const end = lineEnd(text, offset);
    if (isEmptyLine(text, offset, end)) return offset;
    offset = end;
  }
  return -1;
}

/**
 * The header block (its fields' lines, without the empty line) and where the body starts, after
 * the empty line. Text with no empty line is all header: RFC 5322 allows an absent body.
 */
export function splitHeaderBody(text: string): { header: string; bodyStart: number } {
  const end = headerBlockEnd(text);
  if (end === -1) return { header: text, bodyStart: text.length };
  return { header: text.slice(0, end), bodyStart: end + (text[end] === "\r" ? 2 : 1) };
}

/**
 * The fields of a header block, in order, up to the empty line that ends it (or the end of the
 * text). A line starting with a space or tab continues the entry before it; every line belongs
 * to one entry, so the entries' raw lines together are the block.
 */
export function parseHeaderFields(text: string): HeaderField[] {
  return readFields(text, 0).fields;
}

/**
 * The field groups of a report body (RFC 3464 §2.1, RFC 5965 §3.1): blocks of fields apart by
 * empty lines; a run of empty lines separates like one.
 */
export function parseFieldGroups(text: string): HeaderField[][] {
  const groups: HeaderField[][] = [];
  let offset = 0;
  while (offset < text.length) {
    const end = lineEnd(text, offset);
    if (isEmptyLine(text, offset, end)) {
      offset = end;
      continue;
    }
    const group = readFields(text, offset);
    groups.push(group.fields);
    offset = group.end;
  }
  return groups;
}

/** Unfolded values of every field named `name` (any case), in order. */
export function fieldValues(fields: readonly HeaderField[], name: string): string[] {
  const wanted = name.toLowerCase();
  return fields.filter((field) => field.name === wanted).map((field) => field.value);
}

/** The unfolded value of the first field named `name` (any case); undefined when there is none. */
export function fieldValue(fields: readonly HeaderField[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  return fields.find((field) => field.name === wanted)?.value;
}

/** Fields from `from` up to an empty line (not consumed) or the end of the text. */
function readFields(text: string, from: number): { fields: HeaderField[]; end: number } {
  const fields: HeaderField[] = [];
  let offset = from;
  let fieldStart = from;
  let name: string | undefined;
  let value = "";
  const finish = (end: number) => {
    if (name === undefined) return;
    fields.push({ name, raw: text.slice(fieldStart, end), value: name === "" ? "" : trimBlanks(value) });
  };
  while (offset < text.length) {
    const end = lineEnd(text, offset);
    if (isEmptyLine(text, offset, end)) break;
    const content = text.slice(offset, withoutLineBreak(text, offset, end));
    if (isBlank(content[0]) && name !== undefined) {
      value += content;
    } else {
      finish(offset);
      fieldStart = offset;
      const colon = content.indexOf(":");
      name = colon > 0 ? fieldName(content.slice(0, colon)) : "";
      value = colon > 0 ? content.slice(colon + 1) : "";
    }
    offset = end;
  }
  finish(offset);
  return { fields: fields, end: offset };
}

/** Where the line from `start` to `end` ends without its LF or CRLF. */
function withoutLineBreak(text: string, start: number, end: number): number {
  if (end === start || text[end - 1] !== "\n") return end;
  return end - 1 > start && text[end - 2] === "\r" ? end - 2 : end - 1;
}

/**
 * The lower-cased name before the colon, blanks before the colon allowed (RFC 5322 §4.5.8);
 * "" unless it is all ftext (printable ASCII but the colon, §3.6.8), e.g. an mbox "From " line.
 */
function fieldName(beforeColon: string): string {
  let end = beforeColon.length;
  while (end > 0 && isBlank(beforeColon[end - 1])) end--;
  if (end === 0) return "";
  for (let i = 0; i < end; i++) {
    const code = beforeColon.charCodeAt(i);
    if (code < 0x21 || code > 0x7e || code === 0x3a) return "";
  }
  return beforeColon.slice(0, end).toLowerCase();
}

/** Without spaces, tabs, CRs and LFs at either end (only ASCII: a latin1 0xA0 is a byte of text). */
function trimBlanks(value: string): string {
  const blank = (char: string | undefined) => char === " " || char === "\t" || char === "\r" || char === "\n";
  let start = 0;
  let end = value.length;
  while (start < end && blank(value[start])) start++;
  while (end > start && blank(value[end - 1])) end--;
  return value.slice(start, end);
}
