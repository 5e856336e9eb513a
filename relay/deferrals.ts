/**
 * The relay's own reasons to try a recipient again later (no next hop said so). Each has its
 * RFC 3463 status and text here, so the status is carried, never read back out of the text.
 */

export type LocalDeferral =
  /** The copy pool was closed: the relay is stopping. */
  | { kind: "relay_stopping" }
  /** The copy was given up (its message was taken out of the queue meanwhile). */
  | { kind: "copy_cancelled"; detail: string }
  /** A copy worker could not even start: the relay's trouble (its build, the machine), not the message's. */
  | { kind: "copy_worker_unavailable"; detail: string }
  /** Reading our own spool failed (EMFILE, EIO...). */
  | { kind: "spool_unreadable"; detail: string }
  /** The recipient domain's MX look-up failed for now. */
  | { kind: "mx_unavailable"; detail: string }
  /** The account's route table is not known (yet). */
  | { kind: "no_route_table"; table: string }
  /** No sender of the route table can take the recipient now. */
  | { kind: "no_sender"; reason: string }
  /** The route table changed between the choice of a sender and the start. */
  | { kind: "route_changed" }
  /** Delivery failed in a way of our own making. */
  | { kind: "local_error"; detail: string };

export interface DeferralAnswer {
  /** RFC 3463 status, always 4.x.x. */
  status: string;
  /** What the message log, the API and a DSN show: the status, then why. */
  text: string;
}

export function deferralAnswer(deferral: LocalDeferral): DeferralAnswer {
  switch (deferral.kind) {
    case "relay_stopping":
      return answer("4.3.0", "the relay is stopping");
    case "copy_cancelled":
      return answer("4.3.0", `copy cancelled: ${deferral.detail}`);
    case "copy_worker_unavailable":
      return answer("4.3.0", `local error: ${deferral.detail}`);
    case "spool_unreadable":
      return answer("4.3.0", `local error reading the message: ${deferral.detail}`);
    case "mx_unavailable":
      return answer("4.4.3", deferral.detail);
    case "no_route_table":
      return answer("4.3.5", `no route table "${deferral.table}"`);
    case "no_sender":
      return answer("4.4.5", deferral.reason);
    case "route_changed":
      return answer("4.3.5", "route changed");
    case "local_error":
      return answer("4.3.0", `local error: ${deferral.detail}`);
  }
}

function answer(status: string, why: string): DeferralAnswer {
  return { status, text: `${status} ${why}` };
}
