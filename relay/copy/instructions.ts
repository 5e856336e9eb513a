/**
 * What the sender told the relay in its own headers (X-Relay-*, docs/transform.md) that
 * shapes a copy: read once per message, at admission, and handed along with every copy of it.
 */
import { headerBlockOf, readHeaderBlock } from "../spool/read.js";
import type { SpoolEntry } from "../spool/spool.js";
import { readRelayHeaders } from "../transform/index.js";

export interface RelayInstructions {
  /** X-Relay-Track: they can only turn the account's tracking off, never on. */
  track: { opens?: boolean; clicks?: boolean };
}

export const NO_INSTRUCTIONS: RelayInstructions = { track: {} };

/** Header blocks are read this far for the instructions (as far as the copy worker once looked). */
const MAX_HEADER_BYTES = 1024 * 1024;

/** The instructions in a raw header block; the intake refused bad values, so a failure here means "none". */
export function relayInstructionsOf(headerBlock: Buffer): RelayInstructions {
  try {
    return { track: readRelayHeaders(headerBlock).track };
  } catch {
    return NO_INSTRUCTIONS;
  }
}

/**
 * The instructions of a spooled message, from its bytes when the spool still holds them
 * (relay/spool/recent.ts), else from its file; one that cannot be read has none.
 */
export async function readRelayInstructions(entry: SpoolEntry, kept?: Buffer): Promise<RelayInstructions> {
  try {
    const headerBlock = kept
      ? headerBlockOf(kept, MAX_HEADER_BYTES)
      : await readHeaderBlock(entry, MAX_HEADER_BYTES);
    return relayInstructionsOf(headerBlock);
  } catch {
    return NO_INSTRUCTIONS;
  }
}

/** The transform's `overrides` for these instructions; absent when the sender set none. */
export function trackOverrides(instructions: RelayInstructions): RelayInstructions["track"] | undefined {
  return Object.keys(instructions.track).length > 0 ? instructions.track : undefined;
}
