/**
 * `npm run bench`: every benchmark of issue 10 in one go on this machine,
 * relayfleet side by side with a private Postfix, then BENCHMARKS.md, the
 * plots under docs/bench/ and bench/results/latest.json. About 15 minutes;
 * `--quick` is a ~2-minute smoke run (writes bench/results/quick.json only,
 * unless --write). `--only=throughput,latency,fairness,big,responsiveness,marathon,profile`
 * runs a subset (for working on one part). Needs root (Postfix) and the
 * postfix package (smtp-source, smtp-sink).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Kind } from "./lib/messages.js";
import { RELAY_FROM_SOURCE, REPO_ROOT } from "./lib/relay-process.js";
import { type BenchResults, writeReport } from "./report.js";
import { runBigMessage } from "./scenarios/big-message.js";
import { runFairness } from "./scenarios/fairness.js";
import { runLatency } from "./scenarios/latency.js";
import { runMarathon } from "./scenarios/marathon.js";
import { runProfile } from "./scenarios/profile.js";
import { runResponsiveness } from "./scenarios/responsiveness.js";
import { runThroughput } from "./scenarios/throughput.js";

const SECTIONS = [
  "throughput",
  "latency",
  "fairness",
  "big",
  "responsiveness",
  "marathon",
  "profile",
] as const;
type Section = (typeof SECTIONS)[number];

interface Scale {
  rounds: number;
  messages: Record<Kind, number>;
  latencySecondsPerLevel: number;
  fairnessBurst: number;
  fairnessIdleSeconds: number;
  bigRuns: number;
  /** Banner connections and pixel requests measured by the responsiveness section. */
  responsivenessSamples: number;
  marathonSeconds: number;
  /** The marathon's replay peak as a share of full mode's measured 2 KB delivered/s. */
  marathonPeakShare: number;
  profileMessages: number;
}

const FULL: Scale = {
  rounds: 3,
  messages: { text2k: 5000, html10k: 4000, attach100k: 2000 },
  latencySecondsPerLevel: 20,
  fairnessBurst: 50_000,
  fairnessIdleSeconds: 30,
  bigRuns: 3,
  responsivenessSamples: 500,
  marathonSeconds: 150,
  marathonPeakShare: 0.7,
  profileMessages: 5000,
};

const QUICK: Scale = {
  rounds: 1,
  messages: { text2k: 1500, html10k: 1000, attach100k: 500 },
  latencySecondsPerLevel: 4,
  fairnessBurst: 3000,
  fairnessIdleSeconds: 5,
  bigRuns: 1,
  responsivenessSamples: 100,
  marathonSeconds: 20,
  marathonPeakShare: 0.7,
  profileMessages: 1500,
};

function shell(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", cwd: REPO_ROOT }).trim();
  } catch {
    return "unknown";
  }
}

function loadAverages(): number[] {
  return shell("cat", ["/proc/loadavg"]).split(" ").slice(0, 3).map(Number);
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean" }, write: { type: "boolean" }, only: { type: "string" } },
    strict: true,
  });
  const quick = values.quick === true;
  const scale = quick ? QUICK : FULL;
  const only = new Set<Section>(
    values.only
      ? (values.only.split(",").filter((s) => (SECTIONS as readonly string[]).includes(s)) as Section[])
      : SECTIONS,
  );
  for (const tool of ["/usr/sbin/smtp-source", "/usr/sbin/smtp-sink", "/usr/sbin/postfix"]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install postfix`);
  }
  if (process.getuid?.() !== 0) throw new Error("the Postfix comparison needs root (postfix start)");

  const started = performance.now();
  // The relays run compiled, as `npm start` and the image run them: build this tree first.
  if (!RELAY_FROM_SOURCE)
    execFileSync("npm", ["run", "build", "--silent"], { cwd: REPO_ROOT, stdio: "inherit" });
  const dir = await mkdtemp(join(tmpdir(), "relayfleet-bench-"));
  const dirty = shell("git", ["status", "--porcelain", "--untracked-files=no"]) !== "";
  const results: BenchResults = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    commit: `${shell("git", ["rev-parse", "--short", "HEAD"])}${dirty ? " (with uncommitted changes in the tree)" : ""}`,
    quick,
    minutes: 0,
    machine: {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGiB: totalmem() / 2 ** 30,
      kernel: release(),
      node: process.version,
      postfix: shell("postconf", ["-h", "-d", "mail_version"]),
      loadBefore: loadAverages(),
      loadAfter: [],
    },
    settings: { ...scale },
    relayEntry: RELAY_FROM_SOURCE
      ? "`node --import tsx bin/relayfleet.ts relay --config FILE` (from source)"
      : "`node dist/bin/relayfleet.js relay --config FILE` (the compiled build, as `npm start` and the image run it)",
  };
  log(
    `bench${quick ? " --quick" : ""}: ${[...only].join(", ")}; temp dir ${dir}; load ${results.machine.loadBefore.join(" ")}`,
  );
  try {
    if (only.has("throughput")) {
      log("throughput (Postfix, relayfleet full, relayfleet passthrough)");
      results.throughput = await runThroughput({ dir, rounds: scale.rounds, messages: scale.messages, log });
    }
    const peakOf = (kind: Kind, fallback: number) =>
      results.throughput?.find((r) => r.kind === kind && r.target === "relayfleet-full")?.deliveredPerSecond
        .median ?? fallback;
    if (only.has("latency")) {
      log("latency at 25/50/90% of peak");
      results.latency = await runLatency({
        dir,
        peakPerSecond: peakOf("html10k", 300),
        secondsPerLevel: scale.latencySecondsPerLevel,
        levels: [25, 50, 90],
        log,
      });
    }
    if (only.has("fairness")) {
      log(`fairness (A bursts ${scale.fairnessBurst}, B one a second)`);
      results.fairness = await runFairness({
        dir,
        burstMessages: scale.fairnessBurst,
        idleSeconds: scale.fairnessIdleSeconds,
        log,
      });
    }
    if (only.has("big")) {
      log("100 MB message");
      results.bigMessage = await runBigMessage({
        dir,
        messageBytes: 100 * 2 ** 20,
        runs: scale.bigRuns,
        log,
      });
    }
    if (only.has("responsiveness")) {
      log("responsiveness (banner, pixel while a webhook receiver hangs)");
      results.responsiveness = await runResponsiveness({ dir, samples: scale.responsivenessSamples, log });
    }
    if (only.has("marathon")) {
      log("marathon replay");
      results.marathon = await runMarathon({
        dir,
        replaySeconds: scale.marathonSeconds,
        peakPerSecond: peakOf("text2k", 300) * scale.marathonPeakShare,
        log,
      });
    }
    if (only.has("profile")) {
      log("CPU profile of the relay (full mode, 2 KB)");
      results.profile = await runProfile({ dir, messages: scale.profileMessages });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  results.machine.loadAfter = loadAverages();
  results.minutes = (performance.now() - started) / 60_000;
  const resultsDir = join(REPO_ROOT, "bench", "results");
  await mkdir(resultsDir, { recursive: true });
  const complete = only.size === SECTIONS.length;
  const file = join(resultsDir, quick || !complete ? "quick.json" : "latest.json");
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  if ((!quick && complete) || values.write) await writeReport(results, REPO_ROOT);
  log(
    `done in ${results.minutes.toFixed(1)} min; results in ${file}${(!quick && complete) || values.write ? "; BENCHMARKS.md and docs/bench/*.svg written" : ""}`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
