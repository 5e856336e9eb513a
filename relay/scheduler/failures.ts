/**
 * What goes into the errors list and the DSN for each way a recipient can
 * fail after acceptance. Pure.
 */
import type { Verdict } from "../delivery/classify.js";
import { enhancedStatus } from "../delivery/classify.js";
import type { Failure } from "../notify/index.js";
import type { SpooledEnvelope } from "../spool/envelope.js";
import type { RecipientProgress } from "../spool/progress.js";
import type { DeliveryAttempt } from "../vocabulary.js";

/** A recipient the intake refused after acceptance (suppressed, over limit). */
export function refusedFailure(refused: SpooledEnvelope["refused"][number]): Failure {
  const overLimit = refused.code === "over_limit";
  return {
    code: overLimit ? "over_limit" : "suppressed",
    message: refused.reason,
    dsn: {
      address: refused.address,
      action: "failed",
      status: overLimit ? "5.7.0" : "5.7.1",
      diagnostic: { type: "x-relayfleet", text: refused.reason },
    },
  };
}

/** A permanent answer (or a copy that could not be made). */
export function bounceFailure(
  recipient: string,
  verdict: Verdict,
  attempt: DeliveryAttempt,
  unparseable: boolean,
): Failure {
  return {
    code: unparseable ? "unparseable" : "bounced",
    message: attempt.answer,
    dsn: {
      address: recipient,
      action: "failed",
      status: verdict.status.startsWith("5") ? verdict.status : "5.0.0",
      diagnostic: { type: attempt.responseCode ? "smtp" : "x-relayfleet", text: attempt.answer },
      ...(attempt.remoteHost ? { remoteMta: attempt.remoteHost } : {}),
      lastAttemptAt: attempt.at,
    },
  };
}

/**
 * Still deferred at the maximum age. The status is the last temporary one,
 * as Postfix reports it, or 4.4.7 ("delivery time expired").
 */
export function expiryFailure(
  recipient: string,
  lastAnswer: string,
  attempts: number,
  now: number,
  last: { remoteHost?: string; status?: string } = {},
): Failure {
  const { remoteHost } = last;
  const lastStatus = last.status ?? enhancedStatus(lastAnswer);
  const status = lastStatus?.startsWith("4.") ? lastStatus : "4.4.7";
  return {
    code: "expired",
    message: `gave up after ${attempts} attempts: ${lastAnswer}`,
    dsn: {
      address: recipient,
      action: "failed",
      status,
      diagnostic: { type: "x-relayfleet", text: `delivery time expired; last answer: ${lastAnswer}` },
      ...(remoteHost ? { remoteMta: remoteHost } : {}),
      lastAttemptAt: now,
    },
  };
}

/** A bounce saved in the progress file whose notice was not yet spooled when the relay stopped. */
export function failureFromProgress(recipient: string, state: RecipientProgress): Failure {
  const answer = state.answer ?? "delivery failed";
  return {
    code: state.status?.startsWith("4") ? "expired" : "bounced",
    message: answer,
    dsn: {
      address: recipient,
      action: "failed",
      status: state.status ?? "5.0.0",
      diagnostic: { type: "x-relayfleet", text: answer },
      ...(state.remoteMta ? { remoteMta: state.remoteMta } : {}),
    },
  };
}

/** A recipient of a quarantined message (relay/spool/quarantine.ts): failed, the sender told. */
export function quarantineFailure(recipient: string, detail: string, now: number): Failure {
  return {
    code: "quarantined",
    message: detail,
    dsn: {
      address: recipient,
      action: "failed",
      status: "5.3.0",
      diagnostic: { type: "x-relayfleet", text: detail },
      lastAttemptAt: now,
    },
  };
}

/** The recipients of a message still waiting for delivery (not refused, not final). */
export function openRecipients(
  envelope: SpooledEnvelope,
  progress: Readonly<Record<string, RecipientProgress>>,
): string[] {
  const refused = new Set(envelope.refused.map((r) => r.address));
  const open = new Set<string>();
  for (const recipient of envelope.to) {
    if (refused.has(recipient)) continue;
    const state = progress[recipient]?.state;
    if (state === "delivered" || state === "bounced") continue;
    open.add(recipient);
  }
  return [...open];
}
