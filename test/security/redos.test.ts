/**
 * HOSTILE-INPUTS row 22: every regular expression in relay/ runs in linear time. The TypeScript
 * compiler finds them all (regex-sites.ts) and recheck, a ReDoS checker, proves each one safe or
 * names an attack string. recheck runs its native linux-x64 agent when it loads (else its
 * JavaScript build), with a fixed seed, so a run is repeatable.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { check, type Diagnostics } from "recheck";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/temp-dir.js";
import { findRegexSites, type RegexSite, shippedSources } from "./regex-sites.js";

const ROOT = new URL("../..", import.meta.url).pathname;

/**
 * Patterns built at run time, reviewed by hand. Each is still checked, with representative
 * values in place of its `${...}` parts.
 */
const REVIEWED_DYNAMIC: readonly {
  file: string;
  source: string;
  values: Record<string, string>;
  reason: string;
}[] = [
  {
    file: "relay/feedback/verp.ts",
    source: `\${prefix}\\+[0-9a-z]{23}-[a-z2-7]{\${CODE_CHARS}}@\${domain}\\b`,
    values: { prefix: "bounces", CODE_CHARS: "26", domain: "bounce\\.example\\.com" },
    reason:
      "prefix (validated: [a-z0-9._-]{1,15}) and domain are the operator's VERP settings, escaped to " +
      "literal text; between them only fixed-width classes, so every match attempt reads a bounded length",
  },
];

/**
 * Patterns recheck calls superlinear that may stay, because what they read is bounded and
 * trusted (config, our own output). Empty: every pattern in relay/ is linear today. An entry
 * names file, source and flags exactly, with the reason the input cannot be a stranger's.
 */
const BOUNDED_TRUSTED_INPUT: readonly { file: string; source: string; flags: string; reason: string }[] = [];

/**
 * Repeatable: bounded repeats up to 100 go to the automaton checker (exact, where the default 30
 * sends `{0,30}` to the fuzzer); the fuzzer, left for lookarounds, runs on a fixed seed and on
 * step limits only, its wall-clock limits off, so a busy machine changes its time, not its
 * answer. The overall timeout is generous and only guards against a hang.
 */
const CHECK_PARAMS = {
  maxRepeatCount: 100,
  randomSeed: 0,
  attackTimeout: null,
  incubationTimeout: null,
  seedingTimeout: null,
  timeout: 240_000,
} as const;
const CONCURRENT_CHECKS = 4;

async function checkAll(
  patterns: readonly { source: string; flags: string }[],
): Promise<Map<string, Diagnostics>> {
  const unique = [...new Map(patterns.map((p) => [key(p), p])).values()];
  const results = new Map<string, Diagnostics>();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < unique.length; i = next++) {
      const pattern = unique[i]!;
      results.set(key(pattern), await check(pattern.source, pattern.flags, CHECK_PARAMS));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT_CHECKS }, worker));
  return results;
}

function key(pattern: { source: string; flags: string }): string {
  return `/${pattern.source}/${pattern.flags}`;
}

function describeProblem(site: RegexSite, diagnostics: Diagnostics): string | undefined {
  const where = `${site.file}:${site.line} /${site.source}/${site.flags}`;
  if (diagnostics.status === "safe") return undefined;
  if (diagnostics.status === "vulnerable")
    return `${where}: ${diagnostics.complexity.summary}, e.g. ${diagnostics.attack.pattern}`;
  return `${where}: recheck could not decide (${diagnostics.error.kind})`;
}

/** A reviewed dynamic site with its representative values filled in; throws when one is missing. */
function representative(site: RegexSite, values: Record<string, string>): RegexSite {
  const source = site.source.replace(/\$\{([A-Za-z_$][\w$]*)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined)
      throw new Error(`${site.file}:${site.line}: no representative value for \${${name}}`);
    return value;
  });
  return { ...site, source, dynamic: false };
}

describe("regular expressions in relay/", () => {
  it("finds regex literals, RegExp built from constants, and string patterns; marks run-time parts", async () => {
    const dir = await tempDir("relayfleet-regex-sites-");
    mkdirSync(join(dir, "src"));
    writeFileSync(
      join(dir, "src", "constants.ts"),
      'export const WORD = "blocked";\nexport const WIDTH = 4;\n',
    );
    writeFileSync(
      join(dir, "src", "uses.ts"),
      [
        'import { WIDTH, WORD } from "./constants.js";',
        'const SPACE = "\\\\s";',
        "export const a = /x+y/gi;",
        `export const b = new RegExp(\`\${SPACE}*\${WORD}{\${WIDTH}}\`, "m");`,
        'export const c = (s: string) => RegExp(s + "!");',
        'export const d = (s: string) => s.search("a+b");',
        "export const e = 6 / 2 / 3;",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "src", "skipped.test.ts"), "export const t = /test only/;\n");
    const files = shippedSources(join(dir, "src"));
    expect(files.map((f) => f.slice(dir.length))).toEqual(["/src/constants.ts", "/src/uses.ts"]);
    const sites = findRegexSites(files, dir);
    expect(sites).toEqual([
      { file: "src/uses.ts", line: 3, source: "x+y", flags: "gi", dynamic: false },
      { file: "src/uses.ts", line: 4, source: "\\s*blocked{4}", flags: "m", dynamic: false },
      { file: "src/uses.ts", line: 5, source: `\${s + "!"}`, flags: "", dynamic: true },
      { file: "src/uses.ts", line: 6, source: "a+b", flags: "", dynamic: false },
    ]);
  });

  it("recheck tells the patterns the relay used to have (quadratic) from their replacements", async () => {
    const before = [
      { source: "<[^>]*>", flags: "g" },
      { source: "[ \\t]*\\r?\\n$", flags: "" },
      { source: "(sending|client|source) (ip|host) .*(blocked|banned|not allowed|refused)", flags: "i" },
      { source: "<(a|area)(?=[\\s>/])((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", flags: "gi" },
    ];
    const after = [
      { source: "(sending|client|source) (ip|host) ", flags: "i" },
      { source: "blocked|banned|not allowed|refused", flags: "i" },
    ];
    const results = await checkAll([...before, ...after]);
    expect(before.map((p) => results.get(key(p))?.status)).toEqual(before.map(() => "vulnerable"));
    expect(after.map((p) => results.get(key(p))?.status)).toEqual(after.map(() => "safe"));
  }, 300_000);

  it("every one runs in linear time (recheck), or is reviewed with its reason", async () => {
    const sites = findRegexSites(shippedSources(join(ROOT, "relay")), ROOT);
    // A sanity floor, so a broken finder cannot pass by finding nothing.
    expect(sites.length).toBeGreaterThan(100);

    const problems: string[] = [];
    const checked: RegexSite[] = [];
    for (const site of sites) {
      if (!site.dynamic) {
        checked.push(site);
        continue;
      }
      const review = REVIEWED_DYNAMIC.find((r) => r.file === site.file && r.source === site.source);
      if (review) checked.push(representative(site, review.values));
      else
        problems.push(
          `${site.file}:${site.line} /${site.source}/${site.flags}: built at run time, not reviewed`,
        );
    }
    const results = await checkAll(checked);
    for (const site of checked) {
      const allowed = BOUNDED_TRUSTED_INPUT.some(
        (entry) => entry.file === site.file && entry.source === site.source && entry.flags === site.flags,
      );
      const problem = describeProblem(site, results.get(key(site)) as Diagnostics);
      if (problem && !allowed) problems.push(problem);
    }
    expect(problems).toEqual([]);

    // No stale entries: each review and allowance still names a pattern in the code.
    for (const review of REVIEWED_DYNAMIC)
      expect(
        sites.some((s) => s.file === review.file && s.source === review.source),
        review.source,
      ).toBe(true);
    for (const entry of BOUNDED_TRUSTED_INPUT)
      expect(
        sites.some((s) => s.file === entry.file && s.source === entry.source && s.flags === entry.flags),
        entry.source,
      ).toBe(true);
  }, 600_000);
});
