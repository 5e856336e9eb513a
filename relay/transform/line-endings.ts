/**
 * Outbound smuggling guard (SMTP smuggling: docs/intake.md): every line ends in CRLF, nothing else.
 *
 * - A bare LF becomes CRLF. That is what nodemailer's DataStream puts on the wire anyway, so doing
 *   it here first means the DKIM signature covers the bytes actually sent.
 * - A bare CR becomes a space, as Postfix 3.9's `cleanup_replace_stray_cr_lf` does: turning it
 *   into a line break would let `\r.\r\n` end the DATA of the next hop.
 * - NUL is dropped (Postfix `message_reject_characters`-style stripping; no next hop wants it).
 *
 * Pure over a running state, so a CR at the end of one chunk is judged with the next chunk.
 */
export interface LineEndingState {
  /** The previous chunk ended in CR whose fate depends on the next byte. */
  pendingCr: boolean;
}

export function newLineEndingState(): LineEndingState {
  return { pendingCr: false };
}

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const SPACE = 0x20;

/** Returns the chunk itself when it is already clean (the common case: no copy). */
export function fixLineEndings(chunk: Buffer, state: LineEndingState): Buffer {
  if (!state.pendingCr && isClean(chunk)) return chunk;
  const out = Buffer.allocUnsafe(chunk.length * 2 + 2);
  let length = 0;
  let pendingCr = state.pendingCr;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!;
    if (pendingCr) {
      pendingCr = false;
      if (byte === LF) {
        out[length++] = CR;
        out[length++] = LF;
        continue;
      }
      out[length++] = SPACE;
    }
    if (byte === CR) pendingCr = true;
    else if (byte === LF) {
      out[length++] = CR;
      out[length++] = LF;
    } else if (byte !== NUL) out[length++] = byte;
  }
  state.pendingCr = pendingCr;
  return out.subarray(0, length);
}

/** Call at end of input: a CR left pending is stray. */
export function finishLineEndings(state: LineEndingState): Buffer {
  if (!state.pendingCr) return Buffer.alloc(0);
  state.pendingCr = false;
  return Buffer.from([SPACE]);
}

/** True when every CR is followed by LF, every LF preceded by CR, no NUL, and no CR at the end. */
function isClean(chunk: Buffer): boolean {
  if (chunk.indexOf(NUL) !== -1) return false;
  let from = 0;
  for (;;) {
    const lf = chunk.indexOf(LF, from);
    const cr = chunk.indexOf(CR, from);
    if (lf === -1 && cr === -1) return true;
    if (cr === -1 || (lf !== -1 && lf < cr)) return false; // LF with no CR before it
    if (chunk[cr + 1] !== LF) return false; // CR not followed by LF (or at the end)
    from = cr + 2;
  }
}

/** Convenience for whole buffers (tests, generated content). */
export function toCrlf(input: Buffer): Buffer {
  const state = newLineEndingState();
  return Buffer.concat([fixLineEndings(input, state), finishLineEndings(state)]);
}
