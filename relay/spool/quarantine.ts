/**
 * The quarantine: messages taken out of the queue because copying them is
 * the trouble (a copy past its deadline, a copy that kept killing its worker,
 * or a message in flight during crashes in a row; docs/poison.md,
 * Postfix's `hold` queue). `spool/quarantine/ID.msg` is the spool file as it
 * was, `ID.json` the reason. Nothing here is ever delivered or deleted by the
 * relay; an administrator lists them (GET /v1/admin/quarantine) and may put
 * one back in the queue (POST /v1/admin/quarantine/ID/release).
 */
import { mkdir, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { SpooledEnvelope } from "./envelope.js";
import { MESSAGE_ID_PATTERN } from "./id.js";
import { type MessageProgress, progressPath, writeProgress } from "./progress.js";
import { readEntry, type SpoolEntry } from "./spool.js";

export const quarantineReasonSchema = z.enum(["copy_deadline", "copy_crash", "crash_loop"]);

export const quarantineRecordSchema = z.object({
  id: z.string().regex(MESSAGE_ID_PATTERN),
  account: z.string(),
  /** One of quarantineReasonSchema (the metric's label). */
  reason: quarantineReasonSchema,
  /** What happened, in a sentence. */
  detail: z.string(),
  /** When it was quarantined (ms since the epoch). */
  at: z.number().int(),
  from: z.string(),
  /** The recipients it was taken from (the others were final before). */
  recipients: z.array(z.string()),
  size: z.number().int().min(0),
});

export type QuarantineRecord = z.output<typeof quarantineRecordSchema>;

export class Quarantine {
  readonly dir: string;

  constructor(
    spoolDir: string,
    private readonly queueDir: string,
  ) {
    this.dir = join(spoolDir, "quarantine");
  }

  /**
   * Moves a queued message here: the reason first, then the message (a crash in between
   * leaves it queued, to be quarantined again), then its progress file goes.
   */
  async add(record: QuarantineRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const reasonPath = join(this.dir, `${record.id}.json`);
    await writeFile(`${reasonPath}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await rename(`${reasonPath}.tmp`, reasonPath);
    await rename(join(this.queueDir, `${record.id}.msg`), join(this.dir, `${record.id}.msg`));
    await unlink(join(this.queueDir, `${record.id}.state`)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
  }

  /** Newest first; a reason file that cannot be read or has no message beside it is left out. */
  async list(): Promise<QuarantineRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const messages = new Set(names.filter((n) => n.endsWith(".msg")).map((n) => n.slice(0, -4)));
    const records: QuarantineRecord[] = [];
    for (const name of names) {
      if (!name.endsWith(".json") || !messages.has(name.slice(0, -5))) continue;
      try {
        records.push(quarantineRecordSchema.parse(JSON.parse(await readFile(join(this.dir, name), "utf8"))));
      } catch {
        // Damaged: the message file is still there for a person to look at.
      }
    }
    return records.sort((a, b) => b.at - a.at || a.id.localeCompare(b.id));
  }

  /**
   * Puts a quarantined message back in the queue and returns its entry (to hand to the
   * scheduler with its progress), or undefined when there is no such message. Only the
   * recipients it was quarantined for are tried again: a progress file saying so goes first.
   */
  async release(id: string): Promise<SpoolEntry | undefined> {
    if (!MESSAGE_ID_PATTERN.test(id)) return undefined;
    const held = join(this.dir, `${id}.msg`);
    let record: QuarantineRecord;
    let entry: SpoolEntry;
    try {
      entry = await readEntry(held);
      record = quarantineRecordSchema.parse(JSON.parse(await readFile(join(this.dir, `${id}.json`), "utf8")));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    await writeProgress(progressPath(this.queueDir, id), releasedProgress(entry.envelope, record.recipients));
    const queued = join(this.queueDir, `${id}.msg`);
    await rename(held, queued);
    await unlink(join(this.dir, `${id}.json`)).catch(() => undefined);
    return { ...entry, path: queued };
  }
}

/** Progress for a released message: every recipient but the quarantined ones is final and notified. Pure. */
export function releasedProgress(envelope: SpooledEnvelope, quarantined: readonly string[]): MessageProgress {
  const retry = new Set(quarantined);
  const progress: MessageProgress = { v: 1, refusedHandled: true, recipients: {} };
  for (const recipient of envelope.to) {
    if (retry.has(recipient)) continue;
    progress.recipients[recipient] = {
      state: "bounced",
      deferrals: 0,
      notified: true,
      answer: "final before the quarantine",
    };
  }
  return progress;
}
