/** The strace reader the durability test relies on: it must see a 250 written too early. */
import { describe, expect, it } from "vitest";
import { durabilitySteps, parseStrace } from "./strace-log.js";

const ID = "0123456789abcdefghijklm";
const Q = "/tmp/t/data/spool/queue";

function trace(lines: string[]): string {
  return lines
    .map((line, i) => line.replace(/^(\d+) /, `$1 12:00:00.${String(i).padStart(6, "0")} `))
    .join("\n");
}

describe("strace log", () => {
  it("joins unfinished and resumed halves, and orders file fsync, rename, directory fsync and the 250", () => {
    const text = trace([
      `100 openat(AT_FDCWD, "${Q}/${ID}.tmp", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0640) = 23`,
      "101 fsync(23 <unfinished ...>",
      '100 write(20, "220 hello\\r\\n", 11) = 11',
      "101 <... fsync resumed>) = 0",
      `101 rename("${Q}/${ID}.tmp", "${Q}/${ID}.msg") = 0`,
      `102 openat(AT_FDCWD, "${Q}", O_RDONLY|O_CLOEXEC) = 24`,
      "102 fsync(24) = 0",
      `100 write(20, "250 2.0.0 Ok: queued as ${ID}\\r\\n", 38) = 38`,
    ]);
    const calls = parseStrace(text);
    expect(calls.find((c) => c.name === "fsync" && c.args === "23")).toMatchObject({
      started: 1,
      finished: 3,
    });
    expect(durabilitySteps(calls, [ID], Q).get(ID)).toEqual({
      fileSynced: 3,
      renamed: 4,
      dirSyncStarted: 6,
      dirSynced: 6,
      replied: 7,
    });
  });

  it("finds no covering directory fsync when the only one began before the rename", () => {
    const text = trace([
      `100 openat(AT_FDCWD, "${Q}/${ID}.tmp", O_WRONLY|O_CREAT, 0640) = 23`,
      "100 fsync(23) = 0",
      `100 openat(AT_FDCWD, "${Q}", O_RDONLY|O_CLOEXEC) = 24`,
      "101 fsync(24 <unfinished ...>",
      `100 rename("${Q}/${ID}.tmp", "${Q}/${ID}.msg") = 0`,
      "101 <... fsync resumed>) = 0",
      `100 write(20, "250 2.0.0 Ok: queued as ${ID}\\r\\n", 38) = 38`,
    ]);
    const step = durabilitySteps(parseStrace(text), [ID], Q).get(ID);
    expect(step?.renamed).toBe(4);
    expect(step?.dirSynced).toBeUndefined();
    expect(step?.replied).toBe(6);
  });
});
