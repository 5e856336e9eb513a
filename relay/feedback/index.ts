/**
 * Bounces and complaints coming back (issue 11). The door:
 *
 *   - `returnPathFor(settings)`: the VERP envelope sender of each delivered
 *     copy (relay/delivery/copy.ts asks for it);
 *   - `startFeedback(...)`: the receiver the intake hands mail for the bounce
 *     domain to (relay/intake/transaction.ts).
 *
 * The rest is pure: mime.ts reads the message, report.ts what kind of
 * report it is, verdict.ts what it means for the recipient.
 */
import { join } from "node:path";
import { MESSAGE_ID_PATTERN } from "../spool/id.js";
import { InspectionFolder } from "./inspection.js";
import { type FeedbackOptions, FeedbackReceiver, type FeedbackSettings } from "./receiver.js";
import { type VerpSettings, verpAddress } from "./verp.js";

export { InspectionFolder } from "./inspection.js";
export { parseMime } from "./mime.js";
export type { FeedbackEnvelope, FeedbackIntake, FeedbackOutcome, FeedbackSettings } from "./receiver.js";
export { FeedbackReceiver } from "./receiver.js";
export { type ReadReport, readReport } from "./report.js";
export { FEEDBACK_KINDS, type FeedbackKind, type FeedbackVerdict, verdictFor } from "./verdict.js";
export {
  atBounceDomain,
  findVerpClaims,
  readVerpAddress,
  recipientHash,
  type VerpSettings,
  verpAddress,
} from "./verp.js";

/**
 * The envelope sender for one recipient's copy. The null sender stays null
 * (a notice must never draw a bounce), and so does anything that is not one
 * of our message IDs.
 */
export function returnPathFor(
  settings: VerpSettings,
): (messageId: string, envelopeFrom: string, recipient: string) => string {
  return (messageId, envelopeFrom, recipient) =>
    envelopeFrom === "" || !MESSAGE_ID_PATTERN.test(messageId)
      ? envelopeFrom
      : verpAddress(settings, messageId, recipient);
}

export async function startFeedback(
  options: Omit<FeedbackOptions, "inspection"> & { dataDir: string; maxKeptFiles: number },
): Promise<FeedbackReceiver> {
  const inspection = await InspectionFolder.open(
    join(options.dataDir, "feedback", "inspect"),
    options.maxKeptFiles,
  );
  const { dataDir: _dataDir, maxKeptFiles: _max, ...rest } = options;
  return new FeedbackReceiver({ ...rest, inspection });
}

export function feedbackSettings(
  config: {
    bounceDomain?: string | undefined;
    feedback: { prefix: string; loopAddresses: string[]; maxBytes: number };
  },
  keys: VerpSettings["keys"],
): FeedbackSettings | undefined {
  if (!config.bounceDomain) return undefined;
  return {
    domain: config.bounceDomain.toLowerCase(),
    prefix: config.feedback.prefix,
    keys,
    loopAddresses: config.feedback.loopAddresses.map((local) => local.toLowerCase()),
    maxBytes: config.feedback.maxBytes,
  };
}
