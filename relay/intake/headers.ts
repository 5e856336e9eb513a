/**
 * Reads the few header fields the intake needs (From, Subject, Message-ID,
 * X-Relay-Group) from a raw header block, without changing anything: the
 * message is spooled exactly as received.
 */
import addressparser from "nodemailer/lib/addressparser";
import { fieldValue, fieldValues, type HeaderField, parseHeaderFields } from "../mail/header-fields.js";

/** The header block's fields, read as UTF-8: what the intake stores and checks is text. */
function fieldsOf(header: Buffer): HeaderField[] {
  return parseHeaderFields(header.toString("utf8"));
}

export function firstHeader(header: Buffer, name: string): string | undefined {
  return fieldValue(fieldsOf(header), name);
}

/** Every address in the From field(s), groups flattened; empty when there is none. */
export function fromAddresses(header: Buffer): string[] {
  const out: string[] = [];
  type Parsed = { address?: string; group?: Parsed[] };
  const walk = (list: Parsed[]) => {
    for (const entry of list) {
      if (entry.group) walk(entry.group);
      else if (entry.address) out.push(entry.address);
    }
  };
  for (const value of fieldValues(fieldsOf(header), "from")) walk(addressparser(value) as Parsed[]);
  return out;
}
