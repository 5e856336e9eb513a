/**
 * The in-flight journal: which messages a copy worker was working on when the
 * process died, so that a message that kills the relay (a copy that exhausts
 * memory, a native crash) is not resumed into a crash loop (docs/poison.md).
 * A message in flight during CRASHES_BEFORE_QUARANTINE crashes in a
 * row is quarantined at start instead of resumed.
 *
 * `spool/in-flight.log`: a JSON header line `{"v":1,"crashes":{ID:N}}`, then
 * one line per change: `+ID` when the first copy of a message starts in a
 * worker, `-ID` when its last one ends, and `clean` at an orderly stop. The
 * lines are appended with one write each, not fsynced: kill -9 keeps what was
 * written (the page cache survives the process), and a journal lost to a
 * power cut only means no message is quarantined for that crash. It is
 * rewritten at start and whenever it grows past MAX_LINES.
 *
 * The parsing and the counting are pure (parseJournal, countCrashes); the
 * class is the shell.
 */
import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { z } from "zod";
import { MESSAGE_ID_PATTERN } from "./id.js";

export const CRASHES_BEFORE_QUARANTINE = 2;
const MAX_LINES = 10_000;

const headerSchema = z.object({
  v: z.literal(1),
  crashes: z.record(z.string().regex(MESSAGE_ID_PATTERN), z.number().int().min(1).max(1000)),
});

export interface JournalState {
  /** Crashes each message was in flight for, in a row, before the last start. */
  crashes: Map<string, number>;
  /** Messages whose copying started and did not end. */
  inFlight: Set<string>;
  /** The process stopped in order (no crash). */
  clean: boolean;
}

/** Reads a journal's text; a damaged header or line is skipped (never worse than "no crash seen"). */
export function parseJournal(text: string): JournalState {
  const lines = text.split("\n");
  const state: JournalState = { crashes: new Map(), inFlight: new Set(), clean: false };
  try {
    const header = headerSchema.safeParse(JSON.parse(lines[0] ?? ""));
    if (header.success) for (const [id, n] of Object.entries(header.data.crashes)) state.crashes.set(id, n);
  } catch {
    // No header: an empty or torn file.
  }
  for (const line of lines.slice(1)) {
    if (line === "clean") {
      state.clean = true;
      continue;
    }
    const id = line.slice(1);
    if (!MESSAGE_ID_PATTERN.test(id)) continue;
    // A line after `clean` means the process ran again after all (the header was not rewritten).
    if (line[0] === "+") {
      state.inFlight.add(id);
      state.clean = false;
    } else if (line[0] === "-") state.inFlight.delete(id);
  }
  return state;
}

export interface CrashVerdict {
  /** Crash counts to carry into the next run (messages to resume). */
  crashes: Map<string, number>;
  /** Messages to quarantine instead of resuming. */
  quarantine: string[];
}

/**
 * After a start: a message in flight at the crash has one more crash; one that was not (or
 * an orderly stop) starts over, since the crashes must come in a row.
 */
export function countCrashes(state: JournalState, threshold = CRASHES_BEFORE_QUARANTINE): CrashVerdict {
  const crashes = new Map<string, number>();
  const quarantine: string[] = [];
  if (state.clean) return { crashes, quarantine };
  for (const id of state.inFlight) {
    const count = (state.crashes.get(id) ?? 0) + 1;
    if (count >= threshold) quarantine.push(id);
    else crashes.set(id, count);
  }
  return { crashes, quarantine: quarantine.sort() };
}

export function journalHeader(crashes: ReadonlyMap<string, number>): string {
  return `${JSON.stringify({ v: 1, crashes: Object.fromEntries(crashes) })}\n`;
}

/** Appends start and end records; synchronous, so a record is on file before the copy it announces starts. */
export class InFlightJournal {
  private fd: number;
  private lines = 0;
  private readonly active = new Map<string, number>();
  private closed = false;

  private constructor(
    private readonly path: string,
    private crashes: Map<string, number>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.fd = this.rewrite();
  }

  /** Reads what the last run left, decides, and starts a fresh journal. */
  static open(
    path: string,
    onError: (error: unknown) => void = () => undefined,
  ): { journal: InFlightJournal; verdict: CrashVerdict } {
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const verdict = countCrashes(parseJournal(text));
    return { journal: new InFlightJournal(path, verdict.crashes, onError), verdict };
  }

  /** Crashes `id` was in flight for before this start (0 when none). */
  crashesOf(id: string): number {
    return this.crashes.get(id) ?? 0;
  }

  started(id: string): void {
    const count = (this.active.get(id) ?? 0) + 1;
    this.active.set(id, count);
    if (count === 1) this.append(`+${id}\n`);
  }

  ended(id: string): void {
    const count = (this.active.get(id) ?? 0) - 1;
    if (count > 0) {
      this.active.set(id, count);
      return;
    }
    if (!this.active.delete(id)) return;
    this.append(`-${id}\n`);
  }

  /** At an orderly stop: no crash to count next time. */
  close(): void {
    if (this.closed) return;
    this.append("clean\n");
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch (error) {
      this.onError(error);
    }
  }

  private append(line: string): void {
    if (this.closed) return;
    try {
      if (++this.lines > MAX_LINES) {
        closeSync(this.fd);
        this.fd = this.rewrite();
      }
      writeSync(this.fd, line);
    } catch (error) {
      // A journal that cannot be written (disk full) costs only the crash-loop protection, never a copy.
      this.onError(error);
    }
  }

  /** The header with today's counts, and a start record for each message in flight now. */
  private rewrite(): number {
    const tmp = `${this.path}.tmp`;
    const ids = [...this.active.keys()];
    writeFileSync(tmp, journalHeader(this.crashes) + ids.map((id) => `+${id}\n`).join(""), { mode: 0o600 });
    renameSync(tmp, this.path);
    this.lines = ids.length;
    return openSync(this.path, "a");
  }
}
