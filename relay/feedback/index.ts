/**
 * Bounces and complaints coming back. The door:
 *
 *   - `returnPathFor(settings)`: the VERP envelope sender of each delivered
 *     copy (relay/delivery/deliverer.ts asks for it);
 *   - `startFeedback(...)`: the receiver the intake hands mail for the bounce
 *     domain to (relay/intake/transaction.ts).
 *
 * The rest is pure: mime.ts reads the message, report.ts what kind of
 * report it is, verdict.ts what it means for the recipient.
 */
import { join } from "node:path";
import { MESSAGE_ID_PATTERN } from "../spool/id.js";
import { IncomingReports } from "./incoming.js";
import { InspectionFolder } from "./inspection.js";
import { type FeedbackOptions, FeedbackReceiver, type FeedbackSettings } from "./receiver.js";
import { type VerpSettings, verpAddress } from "./verp.js";

export { IncomingBusyError, IncomingReports } from "./incoming.js";
export { filesToRemove, InspectionFolder, type InspectionLimits } from "./inspection.js";
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

/** How often expired files are removed from the inspection folder (besides at start). */
const SWEEP_INTERVAL_MS = 3_600_000;

export async function startFeedback(
  options: Omit<FeedbackOptions, "inspection" | "incoming"> & {
    dataDir: string;
    keep: { maxKeptFiles: number; maxKeptBytes: number; keepDays: number };
    /** Reports received at once (each up to settings.maxBytes on disk while it arrives). */
    maxConcurrentReports: number;
  },
): Promise<FeedbackReceiver> {
  const { dataDir, keep, maxConcurrentReports, ...rest } = options;
  const inspection = await InspectionFolder.open(
    join(dataDir, "feedback", "inspect"),
    { maxFiles: keep.maxKeptFiles, maxBytes: keep.maxKeptBytes, keepMs: keep.keepDays * 86_400_000 },
    options.now,
  );
  const log = options.logger.child({ component: "feedback" });
  inspection.startSweeping(SWEEP_INTERVAL_MS, (error) =>
    log.warn({ err: error }, "could not sweep the feedback inspection folder"),
  );
  const incoming = await IncomingReports.open(join(dataDir, "feedback", "incoming"), maxConcurrentReports);
  return new FeedbackReceiver({ ...rest, inspection, incoming });
}

export function feedbackSettings(
  config: {
    bounceDomain?: string | undefined;
    feedback: { prefix: string; loopAddresses: string[]; maxBytes: number; maxReportsPerIpPerMinute: number };
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
    maxReportsPerIpPerMinute: config.feedback.maxReportsPerIpPerMinute,
  };
}
