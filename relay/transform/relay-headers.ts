/**
 * X-Relay-Group and X-Relay-Track: read at intake, removed before delivery.
 */

import { fieldValues, type HeaderField, parseHeaderFields } from "../mail/header-fields.js";
import { GROUP_NAME_PATTERN } from "../vocabulary.js";
import { hasControlCharacter } from "./ascii.js";

export interface RelayHeaders {
  /** The transactional group; absent when the sender named none. */
  group?: string;
  /** Per-message overrides of the account's tracking settings. */
  track: { opens?: boolean; clicks?: boolean };
}

export type RelayHeaderProblem =
  /** A value holds a control character (CRLF injection, NUL, ...). */
  | "control-character"
  /** The header appears more than once. */
  | "repeated"
  /** X-Relay-Group is empty, too long or has characters a group name cannot have. */
  | "bad-group"
  /** X-Relay-Track is not a list of opens=on|off, clicks=on|off. */
  | "bad-track";

export class RelayHeaderError extends Error {
  readonly code = "EBADRELAYHEADER";
  constructor(
    readonly problem: RelayHeaderProblem,
    readonly header: string,
  ) {
    super(`${header}: ${problem}`);
    this.name = "RelayHeaderError";
  }
}

const SWITCHES: Record<string, boolean> = {
  on: true,
  yes: true,
  true: true,
  off: false,
  no: false,
  false: false,
};

export function isRelayHeader(name: string): boolean {
  return name.startsWith("x-relay-");
}

/**
 * Reads the relay's own headers from a raw header block. Throws RelayHeaderError for values
 * that cannot be trusted, so intake can refuse the message instead of logging injected text.
 */
export function readRelayHeaders(headerBlock: Buffer): RelayHeaders {
  // latin1, bytes one to one: the group name is decoded as UTF-8 below, where it is checked.
  const fields = parseHeaderFields(headerBlock.toString("latin1"));
  const result: RelayHeaders = { track: {} };
  const group = single(fields, "x-relay-group");
  if (group !== undefined) {
    // The field's bytes as UTF-8, as the intake read them when it accepted the name.
    const name = Buffer.from(group, "latin1").toString("utf8");
    if (!GROUP_NAME_PATTERN.test(name)) throw new RelayHeaderError("bad-group", "X-Relay-Group");
    result.group = name;
  }
  const track = single(fields, "x-relay-track");
  if (track !== undefined) result.track = parseTrack(track);
  return result;
}

function single(fields: HeaderField[], name: string): string | undefined {
  const matches = fieldValues(fields, name);
  if (matches.length === 0) return undefined;
  const display = name.replace(
    /(^|-)([a-z])/g,
    (_, dash: string, letter: string) => dash + letter.toUpperCase(),
  );
  if (matches.length > 1) throw new RelayHeaderError("repeated", display);
  const value = matches[0]!;
  // After unfolding, any control character left (bare CR/LF, NUL, DEL, ...) is an injection attempt.
  if (hasControlCharacter(value)) throw new RelayHeaderError("control-character", display);
  return value;
}

function parseTrack(value: string): RelayHeaders["track"] {
  const track: RelayHeaders["track"] = {};
  if (value === "") throw new RelayHeaderError("bad-track", "X-Relay-Track");
  for (const item of value.split(/[,;]/)) {
    const match = /^\s*(opens|clicks)\s*=\s*([a-z]+)\s*$/i.exec(item);
    const setting = match ? SWITCHES[match[2]!.toLowerCase()] : undefined;
    if (!match || setting === undefined) throw new RelayHeaderError("bad-track", "X-Relay-Track");
    track[match[1]!.toLowerCase() as "opens" | "clicks"] = setting;
  }
  return track;
}
