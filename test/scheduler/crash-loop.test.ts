/**
 * Crash loops (relay/spool/in-flight.ts): which messages were being copied when the process
 * died, counted over crashes in a row; and what a quarantined message's release resumes
 * (relay/spool/quarantine.ts). The counting is pure; the journal is tested on real files.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openRecipients } from "../../relay/scheduler/failures.js";
import type { SpooledEnvelope } from "../../relay/spool/envelope.js";
import {
  CRASHES_BEFORE_QUARANTINE,
  countCrashes,
  InFlightJournal,
  journalHeader,
  parseJournal,
} from "../../relay/spool/in-flight.js";
import { releasedProgress } from "../../relay/spool/quarantine.js";
import { tempDir } from "../support/temp-dir.js";

// Message IDs are 23 lower-case base-36 characters (relay/spool/id.ts).
const a = "000000000aaaaaaaaaa0001";
const b = "000000000bbbbbbbbbb0002";
const c = "000000000cccccccccc0003";

describe("the in-flight journal's text", () => {
  it("lists what started and did not end, with the crashes carried from before", () => {
    const text = `${journalHeader(new Map([[a, 1]]))}+${a}\n+${b}\n-${b}\n+${c}\n`;
    const state = parseJournal(text);
    expect([...state.inFlight].sort()).toEqual([a, c]);
    expect(state.crashes).toEqual(new Map([[a, 1]]));
    expect(state.clean).toBe(false);
  });

  it("skips what it cannot trust: a torn header, a torn line, an ID of the wrong shape", () => {
    const state = parseJournal(`{"v":1,"crashes":{"x":1}\n+${a}\n+${b.slice(0, 5)}\n+../etc\n+${c}`);
    expect(state.crashes.size).toBe(0);
    expect([...state.inFlight]).toEqual([a, c]);
    expect(parseJournal("").inFlight.size).toBe(0);
  });

  it("an orderly stop is no crash; a start after it (no new header yet) is", () => {
    expect(parseJournal(`${journalHeader(new Map())}+${a}\nclean\n`).clean).toBe(true);
    expect(parseJournal(`${journalHeader(new Map())}+${a}\nclean\n+${b}\n`).clean).toBe(false);
  });
});

describe("counting crashes", () => {
  it(`quarantines a message in flight during ${CRASHES_BEFORE_QUARANTINE} crashes in a row`, () => {
    const first = countCrashes({ crashes: new Map(), inFlight: new Set([a]), clean: false });
    expect(first).toEqual({ crashes: new Map([[a, 1]]), quarantine: [] });
    const second = countCrashes({ crashes: first.crashes, inFlight: new Set([a]), clean: false });
    expect(second).toEqual({ crashes: new Map(), quarantine: [a] });
  });

  it("starts over for a message not in flight at the last crash, and after an orderly stop", () => {
    const crashes = new Map([
      [a, 1],
      [b, 1],
    ]);
    expect(countCrashes({ crashes, inFlight: new Set([c]), clean: false })).toEqual({
      crashes: new Map([[c, 1]]),
      quarantine: [],
    });
    expect(countCrashes({ crashes, inFlight: new Set([a]), clean: true })).toEqual({
      crashes: new Map(),
      quarantine: [],
    });
  });
});

describe("the journal on disk", () => {
  it("records overlapping copies of a message once, survives a crash, and forgets after a clean stop", async () => {
    const path = join(await tempDir(), "in-flight.log");
    const run1 = InFlightJournal.open(path);
    expect(run1.verdict.quarantine).toEqual([]);
    run1.journal.started(a);
    run1.journal.started(a);
    run1.journal.started(b);
    run1.journal.ended(a);
    run1.journal.ended(b);
    expect((await readFile(path, "utf8")).split("\n").slice(1)).toEqual([`+${a}`, `+${b}`, `-${b}`, ""]);
    // The process dies here (no close): a is in flight.
    const run2 = InFlightJournal.open(path);
    expect(run2.verdict).toEqual({ crashes: new Map([[a, 1]]), quarantine: [] });
    expect(run2.journal.crashesOf(a)).toBe(1);
    run2.journal.started(a);
    const run3 = InFlightJournal.open(path);
    expect(run3.verdict.quarantine).toEqual([a]);
    run3.journal.started(c);
    run3.journal.close();
    const run4 = InFlightJournal.open(path);
    expect(run4.verdict).toEqual({ crashes: new Map(), quarantine: [] });
  });

  it("treats a damaged file as no crash seen", async () => {
    const path = join(await tempDir(), "in-flight.log");
    await writeFile(path, "\u0000\u0001 not a journal");
    expect(InFlightJournal.open(path).verdict).toEqual({ crashes: new Map(), quarantine: [] });
  });
});

describe("releasing a quarantined message", () => {
  const envelope: SpooledEnvelope = {
    v: 1,
    id: a,
    account: "acme",
    from: "news@acme.com",
    to: ["x@isp.test", "y@isp.test", "z@isp.test", "gone@isp.test"],
    clientIp: "192.0.2.1",
    heloName: "client.test",
    receivedAt: 0,
    listener: "127.0.0.1:2525",
    transmissionType: "ESMTPA",
    refused: [{ address: "gone@isp.test", code: "suppressed", reason: "on the bounce list" }],
  };

  it("retries only the recipients it was quarantined for", () => {
    const progress = releasedProgress(envelope, ["y@isp.test", "z@isp.test"]);
    expect(progress.refusedHandled).toBe(true);
    expect(Object.keys(progress.recipients).sort()).toEqual(["gone@isp.test", "x@isp.test"]);
    expect(openRecipients(envelope, progress.recipients)).toEqual(["y@isp.test", "z@isp.test"]);
  });

  it("a message's open recipients are the ones neither refused nor final", () => {
    expect(
      openRecipients(envelope, {
        "x@isp.test": { state: "delivered", deferrals: 0, notified: false },
        "y@isp.test": { state: "pending", deferrals: 2, notified: false },
      }),
    ).toEqual(["y@isp.test", "z@isp.test"]);
  });
});
