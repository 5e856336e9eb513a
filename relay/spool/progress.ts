/**
 * Per-recipient progress of a spooled message (the scheduler's record, one of
 * the spool's files), kept in `queue/ID.state` next to `queue/ID.msg`, so a
 * restart resumes where delivery stopped: delivered and bounced recipients
 * are never sent again, deferred ones keep their retry count and time. Written atomically (write a temp file, rename over);
 * not fsynced: a process crash (kill -9) keeps what was written, and a file
 * lost to a power cut only means some recipients get a second copy, which
 * the at-least-once promise allows. A damaged file counts as "no progress"
 * for the same reason: resend, never drop.
 *
 * A message that finishes in one pass never writes this file at all; the
 * spool file's removal is its final record.
 */
import { readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

const recipientProgressSchema = z.object({
  /** pending: not final yet (maybe deferred); delivered and bounced are final. */
  state: z.enum(["pending", "delivered", "bounced"]),
  deferrals: z.number().int().min(0).default(0),
  nextAttemptAt: z.number().int().optional(),
  /** For a bounce: its RFC 3463 status, the answer and who gave it, for the DSN. */
  status: z.string().optional(),
  answer: z.string().optional(),
  remoteMta: z.string().optional(),
  /** The bounce notice (DSN) for this recipient has been spooled. */
  notified: z.boolean().default(false),
});

export const messageProgressSchema = z.object({
  v: z.literal(1),
  /** The notice for recipients refused after acceptance (suppressed, over limit) has been handled. */
  refusedHandled: z.boolean().default(false),
  recipients: z.record(z.string(), recipientProgressSchema).default({}),
});

export type RecipientProgress = z.output<typeof recipientProgressSchema>;
export type MessageProgress = z.output<typeof messageProgressSchema>;

export function emptyProgress(): MessageProgress {
  return { v: 1, refusedHandled: false, recipients: {} };
}

export function progressPath(queueDir: string, id: string): string {
  return join(queueDir, `${id}.state`);
}

/** Reads a message's progress; undefined when there is none or it cannot be trusted. */
export async function readProgress(path: string): Promise<MessageProgress | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return messageProgressSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export async function writeProgress(path: string, progress: MessageProgress): Promise<void> {
  // The spool removes `*.tmp` at start-up, so a torn temp file never survives a restart.
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(progress), { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * Lists the messages that have progress files, and removes the files whose
 * message is gone (a crash between the two unlinks of Spool.remove). Only
 * these messages need their progress read: a message accepted after start-up
 * cannot have any yet.
 */
export async function scanProgress(queueDir: string): Promise<Set<string>> {
  const names = await readdir(queueDir);
  const messages = new Set(names.filter((n) => n.endsWith(".msg")).map((n) => n.slice(0, -4)));
  const withProgress = new Set<string>();
  for (const name of names) {
    if (!name.endsWith(".state")) continue;
    const id = name.slice(0, -6);
    if (messages.has(id)) withProgress.add(id);
    else await unlink(join(queueDir, name)).catch(() => undefined);
  }
  return withProgress;
}
