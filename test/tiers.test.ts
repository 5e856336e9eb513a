/**
 * The tiers of docs/testing.md hold: every test file of the repo runs in exactly one, the
 * vitest projects are the tiers' globs, and the unit tier's files import nothing that opens a
 * socket, starts a process or a server. Reads the file tree and nothing else.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { configDefaults } from "vitest/config";
import config from "../vitest.config.js";
import { excludeGlobs, includeGlobs, TIERS, tiersOf } from "./tiers.js";

const ROOT = join(import.meta.dirname, "..");
const SKIPPED = new Set(["node_modules", ".git", "dist", ".relayfleet"]);

function testFiles(dir = ROOT): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith(".test.ts")) found.push(relative(ROOT, path).split(sep).join("/"));
  }
  return found.sort();
}

/** What a unit test may not import: each opens sockets, starts processes or servers. */
const NOT_IN_UNIT = [
  /from "node:(net|http|https|http2|tls|dgram|child_process|worker_threads)"/,
  /from "(ioredis|smtp-server|nodemailer|playwright-core|@kubernetes\/client-node)"/,
  /from "[^"]*test\/support\/(redis-server|smtp-peer|relay-process|relay-with-sink|intake|free-port)\.js"/,
  /from "[^"]*test\/kube\//,
  /\binject\(/,
];

describe("the test tiers", () => {
  const files = testFiles();

  it("finds the repo's test files", () => {
    expect(files).toContain("test/tiers.test.ts");
    expect(files.length).toBeGreaterThan(50);
  });

  it("puts every test file in exactly one tier", () => {
    const misplaced = files
      .map((file) => ({ file, tiers: tiersOf(file) }))
      .filter(({ tiers }) => tiers.length !== 1);
    expect(misplaced).toEqual([]);
  });

  it("has each tier's rule match something", () => {
    for (const tier of TIERS) {
      expect(
        files.filter((file) => tiersOf(file).includes(tier.name)),
        tier.name,
      ).not.toHaveLength(0);
    }
  });

  it("runs one vitest project per tier, with the tier's globs", () => {
    const projects = (config.test?.projects ?? []).map((project) =>
      typeof project === "object" && "test" in project ? project.test : undefined,
    );
    expect(projects.map((project) => project?.name)).toEqual(TIERS.map((tier) => tier.name));
    for (const [index, tier] of TIERS.entries()) {
      expect(projects[index]?.include).toEqual(includeGlobs(tier));
      expect(projects[index]?.exclude).toEqual([...configDefaults.exclude, ...excludeGlobs(tier)]);
    }
  });

  it("keeps the unit tier free of sockets, processes and servers", () => {
    const offending = files
      .filter((file) => tiersOf(file).includes("unit"))
      .flatMap((file) => {
        const text = readFileSync(join(ROOT, file), "utf8");
        return NOT_IN_UNIT.filter((pattern) => pattern.test(text)).map((pattern) => `${file}: ${pattern}`);
      });
    expect(offending).toEqual([]);
  });

  it("sorts known files where docs/testing.md says", () => {
    expect(tiersOf("relay/tracking/token.test.ts")).toEqual(["unit"]);
    expect(tiersOf("test/scheduler/retry.test.ts")).toEqual(["integration"]);
    expect(tiersOf("test/ci.test.ts")).toEqual(["integration"]);
    expect(tiersOf("test/faults/disk-full.test.ts")).toEqual(["system"]);
    expect(tiersOf("test/image/image.test.ts")).toEqual(["image"]);
    expect(tiersOf("test/tiers.test.ts")).toEqual(["unit"]);
    expect(tiersOf("test/kube/server.ts")).toEqual([]);
  });
});
