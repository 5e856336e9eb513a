/**
 * Reads the few header fields the intake needs (From, Subject, Message-ID,
 * X-Relay-Group) from a raw header block, without changing anything: the
 * message is spooled exactly as received.
 */
import addressparser from "nodemailer/lib/addressparser";

/** Unfolded values of every field named `name` (case-insensitive), in order. */
export function headerValues(header: Buffer, name: string): string[] {
  const text = header.toString("utf8");
  const wanted = name.toLowerCase();
  const values: string[] = [];
  let current: { name: string; value: string } | undefined;
  const flush = () => {
    if (current && current.name === wanted) values.push(current.value.trim());
  };
  for (const line of text.split("\r\n")) {
    if (line === "") break;
    if ((line.startsWith(" ") || line.startsWith("\t")) && current) {
      current.value += ` ${line.trim()}`;
      continue;
    }
    flush();
    const colon = line.indexOf(":");
    current =
      colon > 0
        ? { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1) }
        : undefined;
  }
  flush();
  return values;
}

export function firstHeader(header: Buffer, name: string): string | undefined {
  return headerValues(header, name)[0];
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
  for (const value of headerValues(header, "from")) walk(addressparser(value) as Parsed[]);
  return out;
}
