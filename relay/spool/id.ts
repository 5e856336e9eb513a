/**
 * Message IDs, unique across a fleet without coordination: milliseconds since
 * the epoch (base 36, so IDs sort by arrival), 48 random bits drawn once per
 * process (pod-unique), and a per-process sequence number.
 */
import { randomBytes } from "node:crypto";

export function createIdGenerator(now: () => number = Date.now): () => string {
  const processPart = randomBytes(6).readUIntBE(0, 6).toString(36).padStart(10, "0");
  let sequence = 0;
  return () => {
    sequence = (sequence + 1) % 36 ** 4;
    return `${now().toString(36).padStart(9, "0")}${processPart}${sequence.toString(36).padStart(4, "0")}`;
  };
}

/** IDs are exactly 23 lower-case base-36 characters: safe as file names and Redis keys. */
export const MESSAGE_ID_PATTERN = /^[0-9a-z]{23}$/;
