#!/usr/bin/env node
// Makes sure the system packages the tests use are installed. As root (here and
// in CI) it installs what is missing with apt-get; otherwise it stops and prints
// the exact apt-get line to run. Add a row when a test needs a new binary.
// `--bench` adds what `npm run bench` needs besides (Postfix, its smtp-source and smtp-sink).
import { spawnSync } from "node:child_process";

/** [command to probe, Debian package that provides it] */
const REQUIRED = [
  ["redis-server", "redis-server"],
  ["dkimverify", "python3-dkim"],
  // test/image: builds the container image (buildah) on a Debian base it lays out (debootstrap).
  ["buildah", "buildah"],
  ["debootstrap", "debootstrap"],
  // test/e2e and npm run sandbox: Prometheus scrapes the relays and feeds the autoscaler.
  ["prometheus", "prometheus"],
  // test/chart: promtool checks and unit-tests the chart's alerts.
  ["promtool", "prometheus"],
  // test/console: the web console's tests drive Debian's chromium with playwright-core.
  ["chromium", "chromium"],
  // test/faults: the durability test traces the relay's system calls.
  ["strace", "strace"],
];
/** npm run bench: the Postfix it compares against, and Postfix's load tools. */
const BENCH = [
  ["postfix", "postfix"],
  ["smtp-source", "postfix"],
  ["smtp-sink", "postfix"],
];
const forBench = process.argv.includes("--bench");
const what = forBench ? "the benchmarks" : "the tests";

const missing = [...REQUIRED, ...(forBench ? BENCH : [])].filter(
  ([command]) => spawnSync("sh", ["-c", `command -v ${command}`]).status !== 0,
);
const packages = [...new Set(missing.map(([, pkg]) => pkg))];
if (packages.length === 0) process.exit(0);

const line = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(" ")}`;
if (typeof process.getuid === "function" && process.getuid() === 0) {
  console.error(`installing system packages ${what} need: ${packages.join(", ")}`);
  const result = spawnSync("sh", ["-c", line], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (result.status !== 0) {
    console.error(`failed: ${line}`);
    process.exit(1);
  }
} else {
  console.error(
    `${what[0].toUpperCase()}${what.slice(1)} need system packages that are missing. Run as root:\n  ${line}`,
  );
  process.exit(1);
}
