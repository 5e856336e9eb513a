/**
 * Reads an `strace -f -tt` log (one file, every thread's lines with its pid)
 * into system calls in the order they happened, joining the
 * "<unfinished ...>" and "<... resumed>" halves a thread switch splits a
 * call into. Pure; the durability test checks its order claims on it.
 */

export interface TracedCall {
  pid: number;
  name: string;
  /** The argument text as strace printed it (strings quoted, escaped). */
  args: string;
  /** The return value as printed ("0", "23", "-1 ENOSPC (...)"). */
  result: string;
  /** Line index where the call began, and where it returned: order, across threads. */
  started: number;
  finished: number;
}

// Every pattern here is anchored and made of bounded or non-overlapping parts: linear in the line.
const LINE = /^(\d+) +\d{2}:\d{2}:\d{2}\.\d+ (.*)$/;
const UNFINISHED = /^([a-z0-9_]+)\((.*) <unfinished \.\.\.>$/;
const RESUMED = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)\) += (.*)$/;
const WHOLE = /^([a-z0-9_]+)\((.*)\) += (.*)$/;

export function parseStrace(text: string): TracedCall[] {
  const calls: TracedCall[] = [];
  const pending = new Map<number, { name: string; args: string; started: number }>();
  text.split("\n").forEach((raw, index) => {
    const line = LINE.exec(raw);
    if (!line) return;
    const pid = Number(line[1]);
    const rest = line[2] as string;
    const unfinished = UNFINISHED.exec(rest);
    if (unfinished) {
      pending.set(pid, { name: unfinished[1] as string, args: unfinished[2] as string, started: index });
      return;
    }
    const resumed = RESUMED.exec(rest);
    if (resumed) {
      const begun = pending.get(pid);
      pending.delete(pid);
      if (!begun || begun.name !== resumed[1]) return;
      calls.push({
        pid,
        name: begun.name,
        args: begun.args + (resumed[2] as string),
        result: (resumed[3] as string).trim(),
        started: begun.started,
        finished: index,
      });
      return;
    }
    const whole = WHOLE.exec(rest);
    if (whole)
      calls.push({
        pid,
        name: whole[1] as string,
        args: whole[2] as string,
        result: (whole[3] as string).trim(),
        started: index,
        finished: index,
      });
  });
  return calls.sort((a, b) => a.finished - b.finished);
}

/** The first quoted string argument (a path), unescaped enough for ASCII paths. */
export function firstString(args: string): string | undefined {
  const match = /"([^"]*)"/.exec(args);
  return match?.[1];
}

export interface DurabilityStep {
  fileSynced?: number;
  renamed?: number;
  dirSyncStarted?: number;
  dirSynced?: number;
  replied?: number;
}

/**
 * For each message id, where in the trace its spool file was fsynced, renamed
 * from ID.tmp to ID.msg, covered by a queue-directory fsync begun after the
 * rename, and answered "queued as ID" on a socket.
 */
export function durabilitySteps(
  calls: readonly TracedCall[],
  ids: readonly string[],
  queueDir: string,
): Map<string, DurabilityStep> {
  const fdPath = new Map<string, string>();
  const steps = new Map<string, DurabilityStep>(ids.map((id) => [id, {}]));
  const wanted = new Set(ids);
  const idOf = (path: string | undefined, suffix: string): string | undefined => {
    if (!path?.startsWith(`${queueDir}/`) || !path.endsWith(suffix)) return undefined;
    const id = path.slice(queueDir.length + 1, -suffix.length);
    return wanted.has(id) ? id : undefined;
  };
  const dirSyncs: TracedCall[] = [];
  // Calls in the order they returned; an fsync's file is what its descriptor named when it began.
  const byStart = [...calls].sort((a, b) => a.started - b.started);
  const pathAtStart = new Map<TracedCall, string | undefined>();
  {
    const opens = calls.filter((c) => c.name === "openat" && /^\d+$/.test(c.result));
    let next = 0;
    for (const call of byStart) {
      while (next < opens.length && (opens[next] as TracedCall).finished < call.started) {
        const open = opens[next] as TracedCall;
        fdPath.set(open.result, firstString(open.args) ?? "");
        next++;
      }
      if (call.name === "fsync" || call.name === "fdatasync")
        pathAtStart.set(call, fdPath.get(/^(\d+)/.exec(call.args)?.[1] ?? ""));
    }
  }
  for (const call of calls) {
    if ((call.name === "fsync" || call.name === "fdatasync") && call.result === "0") {
      const path = pathAtStart.get(call);
      const id = idOf(path, ".tmp");
      if (id) {
        const step = steps.get(id) as DurabilityStep;
        step.fileSynced ??= call.finished;
      } else if (path === queueDir) dirSyncs.push(call);
    } else if (call.name.startsWith("rename") && call.result === "0") {
      const paths = [...call.args.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
      const id = idOf(paths[0], ".tmp");
      if (id && paths[1] === `${queueDir}/${id}.msg`)
        (steps.get(id) as DurabilityStep).renamed ??= call.finished;
    } else if (call.name === "write" || call.name === "writev") {
      for (const match of call.args.matchAll(/queued as ([0-9a-z]{23})/g)) {
        const step = steps.get(match[1] as string);
        if (step) step.replied ??= call.started;
      }
    }
  }
  for (const step of steps.values()) {
    if (step.renamed === undefined) continue;
    const covering = dirSyncs.find((sync) => sync.started > (step.renamed as number));
    if (covering) {
      step.dirSyncStarted = covering.started;
      step.dirSynced = covering.finished;
    }
  }
  return steps;
}
