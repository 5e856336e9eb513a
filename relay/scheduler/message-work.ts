/**
 * One spooled message while the scheduler holds it: its per-recipient
 * progress, the recipients still open, failures waiting for their notice,
 * and the writes of its progress file (at most one at a time; a change made
 * during a write is written right after it).
 */

import { NO_INSTRUCTIONS, type QuarantineReason, type RelayInstructions } from "../copy/index.js";
import type { LocalDeferral } from "../deferrals.js";
import type { Failure } from "../notify/index.js";
import { type MessageProgress, type RecipientProgress, writeProgress } from "../spool/progress.js";
import type { SpoolEntry } from "../spool/spool.js";

export interface Job {
  message: MessageWork;
  recipient: string;
  domain: string;
  /** Senders this recipient found blocked in the current round (cleared on deferral). */
  exclude: Set<string>;
  /** A random or weighted draw that found its sender busy: kept until it is sent. */
  drawn?: string;
  /** Set by the dispatcher's check, used by its start (so the random pick happens once). */
  plan?: { kind: "send"; senderName: string } | { kind: "defer"; deferral: LocalDeferral };
}

export class MessageWork {
  /** Recipients not yet delivered or bounced. */
  open = 0;
  inFlight = 0;
  /** Jobs waiting for a retry time. */
  waiting = 0;
  /** Final failures (and refused recipients) not yet notified. */
  failures: { recipient: string; failure: Failure }[] = [];
  /** A notice is being spooled. */
  notifying = false;
  finished = false;
  /** The message's X-Relay-* headers, read once at admission and handed to every copy. */
  instructions: RelayInstructions = NO_INSTRUCTIONS;
  /**
   * Set when the message is taken out of the queue (relay/spool/quarantine.ts): its open
   * recipients failed, the jobs still queued for it are dropped as they come up, and at the
   * end it moves to the quarantine instead of leaving the spool.
   */
  quarantine: { reason: QuarantineReason; detail: string; at: number; recipients: string[] } | undefined;
  /** A progress file exists on disk (found at start-up, or written since). */
  hasProgressFile = false;
  private writing: Promise<void> | undefined;
  private dirty = false;

  constructor(
    readonly entry: SpoolEntry,
    readonly progress: MessageProgress,
    private readonly statePath: string,
    private readonly onWriteError: (error: unknown) => void,
  ) {}

  get id(): string {
    return this.entry.id;
  }

  recipient(address: string): RecipientProgress {
    let found = this.progress.recipients[address];
    if (!found) {
      found = { state: "pending", deferrals: 0, notified: false };
      this.progress.recipients[address] = found;
    }
    return found;
  }

  /** Writes the progress file soon; calls that arrive during a write share the next one. */
  persist(): void {
    if (this.finished) return;
    this.dirty = true;
    if (this.writing) return;
    this.writing = (async () => {
      while (this.dirty && !this.finished) {
        this.dirty = false;
        this.hasProgressFile = true;
        await writeProgress(this.statePath, this.progress).catch(this.onWriteError);
      }
      this.writing = undefined;
    })();
  }

  /** Stops further writes and waits for the one under way (before the spool removes the files). */
  async settle(): Promise<void> {
    this.finished = true;
    await this.writing;
  }

  /** Queue state for the queue_messages gauge. */
  state(): "active" | "deferred" | "queued" {
    if (this.inFlight > 0 || this.notifying) return "active";
    if (this.open > 0 && this.waiting >= this.open) return "deferred";
    return "queued";
  }
}
