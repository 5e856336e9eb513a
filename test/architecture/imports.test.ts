/**
 * Which folder may import which (docs/architecture.md): read from the import
 * statements of every non-test source file under relay/ and operator/.
 * Pure: it reads source files and nothing else.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

/** Lower modules every layer may use: no stage, no I/O of the relay's own. */
const SHARED = [
  "vocabulary",
  "deferrals",
  "errors",
  "banner",
  "accounts",
  "routes",
  "config",
  "log",
  "limits",
  "metrics",
  "mail",
];
/** The Store: the shared modules beneath it, nothing else. */
const STORE = ["store"];
/** The stages a message passes (intake → spool → scheduler → copy → delivery) and those beside them. */
const STAGES = [
  "intake",
  "spool",
  "scheduler",
  "copy",
  "transform",
  "delivery",
  "feedback",
  "notify",
  "tracking",
  "webhooks",
  "api",
  "console",
];
/** Wiring: starts the stages and hands each its parts, so it may import anything. */
const WIRING = ["main", "pipeline"];

/**
 * What each part may import besides itself. Stages may use one another (the
 * order is the message's path, not a ban) except where a rule below says so.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  ...Object.fromEntries(SHARED.map((m) => [m, SHARED])),
  store: SHARED,
  ...Object.fromEntries(STAGES.map((m) => [m, [...SHARED, ...STORE, ...STAGES]])),
  // The spool lies beneath every stage that reads it: it knows none of them.
  spool: [...SHARED, ...STORE],
  ...Object.fromEntries(WIRING.map((m) => [m, [...SHARED, ...STORE, ...STAGES, ...WIRING]])),
  // The operator runs apart from the relay: it shares the config and route-table
  // schemas, route selection, the vocabulary, the logger, and the Store (it
  // publishes route tables and reads blocked pairs), and no stage.
  operator: ["config", "routes", "vocabulary", "log", "store"],
};

/** Single files allowed past the table (none today: add one only with its reason and its way out). */
const EXCEPTIONS: readonly { from: string; to: string }[] = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** relay/spool/spool.ts → "spool"; relay/main.ts → "main"; operator/** → "operator". */
function partOf(path: string): string {
  const [top, second = "", third] = path.split("/");
  if (top === "operator") return "operator";
  return third === undefined ? second.replace(/\.tsx?$/, "") : second;
}

const IMPORT = /\b(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(?\s*["']([^"']+)["']/g;

/** Relative imports of one file, as paths from the repository root (".js" read as ".ts"). */
function importsOf(path: string, text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...code.matchAll(IMPORT)]
    .map((m) => (m[1] ?? m[2]) as string)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => relative(ROOT, resolve(ROOT, dirname(path), spec)).replace(/\.js$/, ".ts"));
}

interface Edge {
  file: string;
  target: string;
  from: string;
  to: string;
}

function edges(): Edge[] {
  return ["relay", "operator"].flatMap(sourceFiles).flatMap((file) =>
    importsOf(file, readFileSync(join(ROOT, file), "utf8"))
      .filter((target) => target.startsWith("relay/"))
      .map((target) => ({ file, target, from: partOf(file), to: partOf(target) })),
  );
}

describe("import direction", () => {
  const all = edges();

  it("reads imports, including type-only, re-exported, multi-line and dynamic ones", () => {
    const text = [
      'import type { A } from "../store/types.js";',
      'export { B } from "./b.js";',
      "import {\n  C,\n  type D,\n} from '../vocabulary.js';",
      'const e = await import("../intake/server.js");',
      'import "../log/logger.js";',
      '// import { F } from "../api/server.js";',
      'import { z } from "zod";',
    ].join("\n");
    expect(importsOf("relay/spool/x.ts", text)).toEqual([
      "relay/store/types.ts",
      "relay/spool/b.ts",
      "relay/vocabulary.ts",
      "relay/intake/server.ts",
      "relay/log/logger.ts",
    ]);
    // The real tree is read: the operator does reach the relay's shared modules.
    expect(all.some((e) => e.from === "operator" && e.to === "routes")).toBe(true);
  });

  it("places every folder of relay/ in the table", () => {
    const unknown = [...new Set(all.flatMap((e) => [e.from, e.to]))].filter((part) => !(part in MAY_IMPORT));
    expect(unknown, "add new folders to MAY_IMPORT and docs/architecture.md").toEqual([]);
  });

  it("keeps each import within what its folder may import", () => {
    const broken = all
      .filter((e) => e.from !== e.to)
      .filter((e) => !(MAY_IMPORT[e.from] ?? []).includes(e.to))
      .filter((e) => !EXCEPTIONS.some((x) => x.from === e.from && x.to === e.target))
      .map((e) => `${e.file} → ${e.target}`);
    expect(broken).toEqual([]);
  });

  it("has no exception left that nothing needs", () => {
    const used = EXCEPTIONS.filter((x) => all.some((e) => e.from === x.from && e.target === x.to));
    expect(used).toEqual(EXCEPTIONS);
  });
});
