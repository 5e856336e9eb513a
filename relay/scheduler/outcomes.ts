/**
 * What each attempt's outcome does to its recipient: delivered; blocked →
 * report the pair and retry at once through another sender; deferred →
 * back off, or bounce at the maximum age; bounced → bounce list (5.1.x) and
 * a notice. The scheduler owns the queues; this decides and records.
 */

import { deferralAnswer, type LocalDeferral } from "../deferrals.js";
import { repeatedConnectRefusal } from "../delivery/classify.js";
import type { CopyOutcome } from "../delivery/deliverer.js";
import type { RoutingDirectory } from "../delivery/directory.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import type { Failure } from "../notify/index.js";
import type { RouteTable, Sender } from "../routes/schema.js";
import type { Store } from "../store/types.js";
import { bounceFailure, expiryFailure } from "./failures.js";
import type { Job, MessageWork } from "./message-work.js";
import { afterDeferral, type RetryPolicy } from "./retry.js";

export interface OutcomeHost {
  store: Store;
  directory: RoutingDirectory;
  metrics: Metrics;
  logger: Logger;
  retry: RetryPolicy;
  now(): number;
  random(): number;
  /** Queue the job first in its account's line (a reroute around a block). */
  retryNow(job: Job): void;
  /** Park the job until `at`. */
  wait(job: Job, at: number): void;
  /** The message changed: notify, finish or save its progress. */
  changed(work: MessageWork): void;
}

export class Outcomes {
  private readonly refusals = new Map<string, number[]>();

  constructor(private readonly host: OutcomeHost) {}

  /** Moves the recipient on after an attempt through `sender` of `table`. */
  handle(job: Job, table: RouteTable, sender: Sender, outcome: CopyOutcome): void {
    const { verdict, attempt } = outcome;
    this.recordAttempt(job, attempt);
    this.host.metrics.deliveries.inc({ result: verdict.outcome });
    const work = job.message;
    switch (verdict.outcome) {
      case "delivered": {
        this.host.metrics.deliveryLatency.observe((this.host.now() - work.entry.envelope.receivedAt) / 1000);
        const state = work.recipient(job.recipient);
        state.state = "delivered";
        state.nextAttemptAt = undefined;
        work.open--;
        this.host.changed(work);
        return;
      }
      case "blocked":
        this.rerouteAroundBlock(job, table, sender, attempt.answer);
        return;
      case "deferred": {
        if (verdict.connectRefusal && this.connectRefusedRepeatedly(sender.name, job.domain)) {
          this.rerouteAroundBlock(job, table, sender, `repeated refusals on connect: ${attempt.answer}`);
          return;
        }
        // A deferral of our own carries its status; a next hop's is read from its answer.
        const status = outcome.deferral ? deferralAnswer(outcome.deferral).status : undefined;
        this.defer(job, attempt.answer, attempt.remoteHost, status);
        return;
      }
      case "bounced": {
        if (verdict.unknownRecipient) this.addToBounceList(job, attempt.answer);
        this.bounce(job, bounceFailure(job.recipient, verdict, attempt, outcome.unparseable));
        return;
      }
    }
  }

  /** Blocked here: tell the Store and the local book, and try the next sender now. */
  private rerouteAroundBlock(job: Job, table: RouteTable, sender: Sender, answer: string): void {
    this.host.directory.reportBlocked(sender.name, job.domain, answer, table.blocking.holdSeconds);
    this.refusals.delete(`${sender.name}\u0000${job.domain}`);
    job.exclude.add(sender.name);
    this.host.retryNow(job);
  }

  private connectRefusedRepeatedly(sender: string, domain: string): boolean {
    const key = `${sender}\u0000${domain}`;
    const now = this.host.now();
    const times = [...(this.refusals.get(key) ?? []), now].slice(-10);
    this.refusals.set(key, times);
    if (this.refusals.size > 10_000) this.refusals.clear();
    return repeatedConnectRefusal(times, now);
  }

  /** Defers for a reason of the relay's own (relay/deferrals.ts). */
  deferLocally(job: Job, deferral: LocalDeferral): void {
    const { status, text } = deferralAnswer(deferral);
    this.defer(job, text, undefined, status);
  }

  /** `status`: the answer's RFC 3463 status when known; otherwise read from the answer's text. */
  private defer(job: Job, answer: string, remoteHost?: string, status?: string): void {
    const work = job.message;
    const state = work.recipient(job.recipient);
    state.deferrals++;
    const next = afterDeferral({
      deferrals: state.deferrals,
      receivedAt: work.entry.envelope.receivedAt,
      now: this.host.now(),
      policy: this.host.retry,
      random: this.host.random,
    });
    if (next.kind === "expire") {
      const failure = expiryFailure(job.recipient, answer, state.deferrals, this.host.now(), {
        ...(remoteHost ? { remoteHost } : {}),
        ...(status ? { status } : {}),
      });
      // The message log's final word for this recipient (its last attempt said "deferred").
      this.recordAttempt(job, {
        at: this.host.now(),
        sender: "-",
        outcome: "bounced",
        answer: `${failure.dsn.status} delivery time expired after ${state.deferrals} attempts`,
      });
      this.bounce(job, failure);
      return;
    }
    state.nextAttemptAt = next.at;
    job.exclude.clear();
    this.host.wait(job, next.at);
    work.persist();
  }

  private bounce(job: Job, failure: Failure): void {
    const work = job.message;
    const state = work.recipient(job.recipient);
    state.state = "bounced";
    state.nextAttemptAt = undefined;
    state.status = failure.dsn.status;
    state.answer = failure.message;
    if (failure.dsn.remoteMta) state.remoteMta = failure.dsn.remoteMta;
    work.open--;
    work.failures.push({ recipient: job.recipient, failure });
    this.host.changed(work);
  }

  private addToBounceList(job: Job, answer: string): void {
    const { envelope } = job.message.entry;
    this.host.store
      .addSuppression(envelope.account, {
        address: job.recipient,
        list: "bounces",
        reason: answer.slice(0, 500),
        at: this.host.now(),
        messageId: envelope.id,
      })
      .catch((error: unknown) => this.host.logger.error({ err: error }, "could not add to the bounce list"));
  }

  recordAttempt(job: Job, attempt: Parameters<Store["recordAttempt"]>[2]): void {
    this.host.store
      .recordAttempt(job.message.id, job.recipient, attempt)
      .catch((error: unknown) =>
        this.host.logger.error({ err: error, id: job.message.id }, "could not log a delivery attempt"),
      );
  }
}
