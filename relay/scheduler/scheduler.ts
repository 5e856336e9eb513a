/**
 * The scheduler: takes spooled messages, splits them into per-recipient jobs,
 * and dispatches them fairly across accounts (deficit round robin, dedicated
 * lanes) within the domain and sender caps, through the route the account's
 * table gives (relay/routes/selection.ts). Outcomes move each recipient on:
 * delivered; blocked → report and retry at once through another sender;
 * deferred → back off (relay/scheduler/retry.ts) until the maximum age;
 * bounced → notice. A message leaves the spool only when every recipient is
 * final and every notice about it is spooled.
 *
 * Decisions are in the pure modules beside this one; this file is the shell
 * that keeps the state and does the I/O.
 */
import type { Account } from "../accounts/schema.js";
import { type DeliveryMode, NO_INSTRUCTIONS, readRelayInstructions } from "../copy/index.js";
import { deferralAnswer } from "../deferrals.js";
import type { CopyDeliverer, CopyOutcome } from "../delivery/deliverer.js";
import type { RoutingDirectory } from "../delivery/directory.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import type { Notifier } from "../notify/index.js";
import type { RouteTable, Sender } from "../routes/schema.js";
import { chooseSender, recipientDomain } from "../routes/selection.js";
import { emptyProgress, progressPath, readProgress } from "../spool/progress.js";
import type { Quarantine } from "../spool/quarantine.js";
import type { Spool, SpoolEntry } from "../spool/spool.js";
import type { Store } from "../store/types.js";
import { planAdmission } from "./admission.js";
import { DueTimer } from "./due-queue.js";
import { openRecipients, quarantineFailure } from "./failures.js";
import { FairQueue } from "./fair-queue.js";
import { type Job, MessageWork } from "./message-work.js";
import { Outcomes } from "./outcomes.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
import { DEFAULT_SLOT_LIMITS, type Slot, SlotLedger, type SlotLimits } from "./slots.js";

export interface SchedulerDeps {
  spool: Spool;
  store: Store;
  directory: RoutingDirectory;
  deliverer: CopyDeliverer;
  notifier: Notifier;
  logger: Logger;
  metrics: Metrics;
  mode: DeliveryMode;
  limits?: Partial<SlotLimits>;
  retry?: Partial<RetryPolicy>;
  now?: () => number;
  random?: () => number;
  /** Messages found with a progress file at start-up (relay/spool/progress.ts scanProgress). */
  withProgress?: Set<string>;
  /** Where quarantined messages go; absent: they stay in the queue (and are resumed at the next start). */
  quarantine?: Quarantine;
}

export type QuarantineOrder = NonNullable<CopyOutcome["quarantine"]>;

export interface SchedulerCounts {
  messages: number;
  queued: number;
  active: number;
  deferred: number;
}

const NOTICE_RETRY_MS = 30_000;

export class Scheduler {
  mode: DeliveryMode;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly retry: RetryPolicy;
  private readonly ledger: SlotLedger;
  private readonly fair = new FairQueue<Job>();
  private readonly retries: DueTimer<Job>;
  private readonly messages = new Map<string, MessageWork>();
  private readonly outcomes: Outcomes;
  private readonly idleWaiters = new Set<() => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private starting = 0;
  private pumpScheduled = false;
  private gaugeTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.mode = deps.mode;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...deps.retry };
    this.ledger = new SlotLedger({ ...DEFAULT_SLOT_LIMITS, ...deps.limits });
    this.retries = new DueTimer(this.now, (jobs) => this.releaseDue(jobs));
    this.outcomes = new Outcomes({
      store: deps.store,
      directory: deps.directory,
      metrics: deps.metrics,
      logger: deps.logger,
      retry: this.retry,
      now: this.now,
      random: this.random,
      retryNow: (job) => this.fair.push(job.message.entry.envelope.account, job, { front: true }),
      wait: (job, at) => this.wait(job, at),
      changed: (work) => this.afterChange(work),
    });
    deps.directory.onUpdate(() => this.onDirectoryUpdate());
    this.onDirectoryUpdate();
    this.gaugeTimer = setInterval(() => this.updateGauges(), 1000);
    this.gaugeTimer.unref();
  }

  /**
   * Takes a message that is durable in the spool (from the intake, recovery, or a notice);
   * `quarantine`: take it out of the queue at once instead (a crash loop found at start).
   */
  enqueue(entry: SpoolEntry, options: { quarantine?: QuarantineOrder } = {}): void {
    if (this.stopped) return;
    this.starting++;
    this.admit(entry, options.quarantine)
      .catch((error: unknown) => {
        // It stays in the spool: the next start picks it up again.
        this.deps.logger.error({ err: error, id: entry.id }, "could not schedule a message");
      })
      .finally(() => {
        this.starting--;
        this.checkIdle();
      });
  }

  counts(): SchedulerCounts {
    const counts = { messages: this.messages.size, queued: 0, active: 0, deferred: 0 };
    for (const work of this.messages.values()) counts[work.state()]++;
    return counts;
  }

  /** Resolves once no message is held (every one delivered, bounced with a notice, or refused). */
  idle(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.idleWaiters.delete(check);
        reject(new Error(`scheduler not idle after ${timeoutMs} ms: ${JSON.stringify(this.counts())}`));
      }, timeoutMs);
      const check = () => {
        if (this.messages.size > 0 || this.starting > 0) return;
        clearTimeout(timer);
        this.idleWaiters.delete(check);
        resolve();
      };
      this.idleWaiters.add(check);
      check();
    });
  }

  /**
   * Stops dispatching and waits (up to `graceMs`) for deliveries under way;
   * what is left stays in the spool for the next start.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.retries.stop();
    if (this.gaugeTimer) clearInterval(this.gaugeTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    await Promise.allSettled([...this.messages.values()].map((work) => work.settle()));
  }

  // ------------------------------------------------------------ admission

  private async admit(entry: SpoolEntry, quarantine?: QuarantineOrder): Promise<void> {
    const { envelope } = entry;
    if (this.messages.has(entry.id)) return;
    await this.deps.directory.ensure(envelope.account).catch((error: unknown) => {
      // Routing state arrives later (refresh or change); the jobs wait in the queue for it.
      this.deps.logger.warn({ err: error, account: envelope.account }, "routing state not loaded yet");
    });
    const statePath = progressPath(this.deps.spool.queueDir, entry.id);
    // Only messages found with a progress file at start-up have one to read.
    const hadProgressFile = this.deps.withProgress?.delete(entry.id) ?? false;
    const saved = hadProgressFile ? await readProgress(statePath) : undefined;
    const progress = saved ?? emptyProgress();
    const work = new MessageWork(entry, progress, statePath, (error) =>
      this.deps.logger.error({ err: error, id: entry.id }, "could not write delivery progress"),
    );
    work.hasProgressFile = hadProgressFile;
    // Our own notices carry no instructions (and are not transformed).
    work.instructions =
      envelope.listener === "notify"
        ? NO_INSTRUCTIONS
        : await readRelayInstructions(entry, this.deps.spool.recent.get(entry.path));
    this.messages.set(entry.id, work);
    this.fair.setWeight(envelope.account, this.accountOf(envelope.account)?.weight ?? 1);

    const plan = planAdmission(envelope, progress);
    work.failures.push(...plan.failures);
    if (quarantine) {
      this.quarantine(work, quarantine);
      return;
    }
    const now = this.now();
    for (const { recipient, at } of plan.pending) {
      work.open++;
      const job: Job = { message: work, recipient, domain: recipientDomain(recipient), exclude: new Set() };
      if (at > now) this.wait(job, at);
      else this.fair.push(envelope.account, job);
    }
    // Nothing new to save yet: a message that finishes in one pass never writes its progress file.
    this.afterChange(work, { save: false });
    this.schedulePump();
  }

  // ------------------------------------------------------------ dispatch

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    for (;;) {
      const next = this.fair.next((account, job) => this.canStart(account, job));
      if (!next) return;
      this.start(next.account, next.item);
    }
  }

  private accountOf(name: string): Account | undefined {
    return this.deps.directory.account(name);
  }

  private tableFor(accountName: string): { name: string; table: RouteTable | undefined } {
    const name = this.deps.directory.routeOf(accountName);
    return { name, table: this.deps.directory.table(name) };
  }

  private canStart(account: string, job: Job): boolean {
    // A job of a quarantined message leaves the queue as it comes up (start drops it).
    if (job.message.quarantine) return true;
    if (!this.ledger.laneFree(account)) return false;
    const { name, table } = this.tableFor(account);
    if (!table) {
      job.plan = { kind: "defer", deferral: { kind: "no_route_table", table: name } };
      return true;
    }
    const now = this.now();
    const choice = chooseSender({
      table,
      domain: job.domain,
      isBlocked: (sender, domain) => this.deps.directory.blocks.isBlocked(sender, domain, now),
      exclude: job.exclude,
      hasCapacity: (sender) =>
        this.ledger.senderFree(senderKey(name, sender), sender.maxConnections) &&
        (!sender.mx || this.ledger.domainFree(job.domain)),
      random: this.random,
      ...(job.drawn ? { drawn: job.drawn } : {}),
    });
    switch (choice.kind) {
      case "busy":
        job.drawn = choice.drawn;
        return false;
      case "none":
        job.plan = { kind: "defer", deferral: { kind: "no_sender", reason: choice.reason } };
        return true;
      case "sender":
        job.drawn = undefined;
        job.plan = { kind: "send", senderName: choice.sender.name };
        return true;
    }
  }

  private start(account: string, job: Job): void {
    if (job.message.quarantine) return;
    const plan = job.plan;
    job.plan = undefined;
    const { name, table } = this.tableFor(account);
    const sender = plan?.kind === "send" ? table?.senders.find((s) => s.name === plan.senderName) : undefined;
    if (!table || !sender) {
      const deferral = plan?.kind === "defer" ? plan.deferral : { kind: "route_changed" as const };
      const { text } = deferralAnswer(deferral);
      this.outcomes.recordAttempt(job, { at: this.now(), sender: "-", outcome: "deferred", answer: text });
      this.deps.metrics.deliveries.inc({ result: "deferred" });
      this.outcomes.deferLocally(job, deferral);
      return;
    }
    const slot = this.ledger.acquire(account, sender.mx ? job.domain : undefined, senderKey(name, sender));
    const work = job.message;
    work.inFlight++;
    const running = this.deps.deliverer
      .deliver({
        entry: work.entry,
        recipient: job.recipient,
        domain: job.domain,
        sender,
        blockPatterns: table.blocking.patterns,
        account: this.accountOf(account),
        mode: this.mode,
        instructions: work.instructions,
      })
      .then(
        (outcome) => {
          this.release(job, slot);
          if (work.quarantine) {
            // Quarantined while this copy was under way: its recipient already failed with the
            // rest. Only an attempt that reached the next hop is worth a line in the log.
            if (outcome.attempt.remoteHost) this.outcomes.recordAttempt(job, outcome.attempt);
            work.open--;
            this.afterChange(work);
          } else if (outcome.quarantine) {
            this.quarantine(work, outcome.quarantine);
          } else this.outcomes.handle(job, table, sender, outcome);
        },
        (error: unknown) => {
          this.deps.logger.error({ err: error, id: work.id }, "delivery failed unexpectedly");
          this.release(job, slot);
          if (work.quarantine) {
            work.open--;
            this.afterChange(work);
          } else this.outcomes.deferLocally(job, { kind: "local_error", detail: String(error) });
        },
      )
      .finally(() => {
        this.inFlight.delete(running);
        this.schedulePump();
      });
    this.inFlight.add(running);
  }

  private release(job: Job, slot: Slot): void {
    this.ledger.release(slot);
    job.message.inFlight--;
  }

  // ------------------------------------------------------------ message life

  /** After any change to a message: notify about failures, finish it, or save its progress. */
  private afterChange(work: MessageWork, options: { save?: boolean } = {}): void {
    if (work.finished) return;
    if (work.inFlight === 0 && work.failures.length > 0 && !work.notifying) {
      void this.notify(work);
      return;
    }
    if (work.notifying) return;
    if (work.open === 0 && work.inFlight === 0) {
      void this.finish(work);
      return;
    }
    if (options.save ?? true) work.persist();
  }

  private async notify(work: MessageWork): Promise<void> {
    work.notifying = true;
    const batch = work.failures.splice(0);
    try {
      await this.deps.notifier.report(
        work.entry,
        this.accountOf(work.entry.envelope.account),
        batch.map((b) => b.failure),
      );
      work.progress.refusedHandled = true;
      for (const { recipient } of batch) {
        const state = work.progress.recipients[recipient];
        if (state) state.notified = true;
      }
    } catch (error) {
      // Keep the message (and the failures) until the notice is durable.
      this.deps.logger.error({ err: error, id: work.id }, "could not spool a notice; will retry");
      work.failures.unshift(...batch);
      work.notifying = false;
      const retry = setTimeout(() => this.afterChange(work), NOTICE_RETRY_MS);
      retry.unref();
      return;
    }
    work.notifying = false;
    this.afterChange(work);
  }

  /**
   * Takes the message out of the queue (its copy overran the deadline, killed its worker, or
   * it was in flight during crashes): every open recipient fails with a notice to the sender
   * (not to the recipients), the copies under way are given up, and once those are back the
   * message moves to the quarantine (finish).
   */
  private quarantine(work: MessageWork, order: QuarantineOrder): void {
    if (work.quarantine) return;
    const at = this.now();
    const recipients = openRecipients(work.entry.envelope, work.progress.recipients);
    work.quarantine = { ...order, at, recipients };
    this.deps.metrics.quarantined.inc({ reason: order.reason });
    this.deps.logger.warn(
      {
        id: work.id,
        account: work.entry.envelope.account,
        reason: order.reason,
        recipients: recipients.length,
      },
      "message quarantined",
    );
    const answer = `5.3.0 ${order.detail}`;
    for (const recipient of recipients) {
      const state = work.recipient(recipient);
      state.state = "bounced";
      state.nextAttemptAt = undefined;
      state.status = "5.3.0";
      state.answer = order.detail;
      work.failures.push({ recipient, failure: quarantineFailure(recipient, order.detail, at) });
      this.deps.store
        .recordAttempt(work.id, recipient, { at, sender: "-", outcome: "bounced", answer })
        .catch((error: unknown) =>
          this.deps.logger.error({ err: error, id: work.id }, "could not log a delivery attempt"),
        );
    }
    // Jobs still queued or waiting for a retry are dropped when they come up; those in flight
    // count down as they return.
    work.open = work.inFlight;
    work.waiting = 0;
    this.deps.deliverer.cancel(work.id);
    this.afterChange(work);
  }

  private async finish(work: MessageWork): Promise<void> {
    await work.settle();
    const { quarantine } = this.deps;
    try {
      if (work.quarantine && quarantine) {
        const { envelope } = work.entry;
        await quarantine.add({
          id: work.id,
          account: envelope.account,
          reason: work.quarantine.reason,
          detail: work.quarantine.detail,
          at: work.quarantine.at,
          from: envelope.from,
          recipients: work.quarantine.recipients,
          size: work.entry.size,
        });
      } else if (!work.quarantine) await this.deps.spool.remove(work.id, { progress: work.hasProgressFile });
    } catch (error) {
      this.deps.logger.error(
        { err: error, id: work.id },
        work.quarantine
          ? "could not move a message to the quarantine"
          : "could not remove a finished message from the spool",
      );
    }
    this.messages.delete(work.id);
    this.checkIdle();
  }

  private checkIdle(): void {
    for (const check of [...this.idleWaiters]) check();
  }

  // ------------------------------------------------------------ timers and gauges

  private wait(job: Job, at: number): void {
    job.message.waiting++;
    this.retries.add(at, job);
  }

  private releaseDue(jobs: Job[]): void {
    for (const job of jobs) {
      if (job.message.quarantine) continue;
      job.message.waiting--;
      this.fair.push(job.message.entry.envelope.account, job);
    }
    this.schedulePump();
  }

  private onDirectoryUpdate(): void {
    const { directory } = this.deps;
    this.ledger.setDedicated(directory.dedicatedAccounts());
    for (const account of directory.knownAccounts()) this.fair.setWeight(account.name, account.weight);
    this.schedulePump();
  }

  private updateGauges(): void {
    const counts = this.counts();
    const { metrics } = this.deps;
    metrics.queueMessages.set({ state: "queued" }, counts.queued);
    metrics.queueMessages.set({ state: "active" }, counts.active);
    metrics.queueMessages.set({ state: "deferred" }, counts.deferred);
    let oldest = Number.POSITIVE_INFINITY;
    for (const work of this.messages.values()) oldest = Math.min(oldest, work.entry.envelope.receivedAt);
    metrics.queueOldestSeconds.set(Number.isFinite(oldest) ? Math.max(0, (this.now() - oldest) / 1000) : 0);
    metrics.blockedPairs.set(this.deps.directory.blocks.count(this.now()));
  }
}

function senderKey(table: string, sender: Sender): string {
  return `${table}/${sender.name}`;
}
