/**
 * What a message brings to the scheduler: which recipients still need
 * delivery (and from when), and which failures still need their notice,
 * given its envelope and any progress saved before a restart. Pure.
 */

import type { Failure } from "../notify/index.js";
import type { SpooledEnvelope } from "../spool/envelope.js";
import type { MessageProgress } from "../spool/progress.js";
import { failureFromProgress, refusedFailure } from "./failures.js";

export interface AdmissionPlan {
  /** Recipients to deliver; `at` 0 means now. */
  pending: { recipient: string; at: number }[];
  failures: { recipient: string; failure: Failure }[];
}

export function planAdmission(envelope: SpooledEnvelope, progress: MessageProgress): AdmissionPlan {
  const failures: AdmissionPlan["failures"] = [];
  if (!progress.refusedHandled) {
    for (const refused of envelope.refused)
      failures.push({ recipient: refused.address, failure: refusedFailure(refused) });
  }
  const refused = new Set(envelope.refused.map((r) => r.address));
  const seen = new Set<string>();
  const pending: AdmissionPlan["pending"] = [];
  for (const recipient of envelope.to) {
    if (refused.has(recipient) || seen.has(recipient)) continue;
    seen.add(recipient);
    const state = progress.recipients[recipient];
    if (state?.state === "delivered") continue;
    if (state?.state === "bounced") {
      if (!state.notified) failures.push({ recipient, failure: failureFromProgress(recipient, state) });
      continue;
    }
    pending.push({ recipient, at: state?.nextAttemptAt ?? 0 });
  }
  return { pending, failures };
}
