/**
 * What the spool keeps about a message besides its bytes: the envelope and
 * how it arrived. Written as the first line of the spool file and validated
 * when read back, so a corrupt file is reported, never half-trusted.
 */
import { z } from "zod";

export const spooledEnvelopeSchema = z.strictObject({
  v: z.literal(1),
  id: z.string(),
  account: z.string(),
  /** Envelope sender; "" for the null sender. */
  from: z.string(),
  to: z.array(z.string()).min(1),
  clientIp: z.string(),
  heloName: z.string(),
  authUser: z.string().optional(),
  receivedAt: z.number().int(),
  /** The listener that took it, "host:port". */
  listener: z.string(),
  /** ESMTP/ESMTPS/ESMTPSA..., for the Received header. */
  transmissionType: z.string(),
  /** Recipients refused after acceptance (suppressed, over limit) with the reason; not delivered. */
  refused: z.array(z.strictObject({ address: z.string(), code: z.string(), reason: z.string() })).default([]),
});

export type SpooledEnvelope = z.output<typeof spooledEnvelopeSchema>;

export const SPOOL_MAGIC = "RFSPOOL1 ";

export function encodeEnvelope(envelope: SpooledEnvelope): Buffer {
  return Buffer.from(`${SPOOL_MAGIC}${JSON.stringify(envelope)}\n`);
}

export function decodeEnvelope(line: string): SpooledEnvelope {
  if (!line.startsWith(SPOOL_MAGIC)) throw new Error("not a relayfleet spool file");
  return spooledEnvelopeSchema.parse(JSON.parse(line.slice(SPOOL_MAGIC.length)));
}
