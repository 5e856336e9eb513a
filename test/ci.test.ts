import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TIER_ORDER } from "./tiers.js";

function npmScripts(): Record<string, string> {
  return (JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> }).scripts;
}

describe("CI and README", () => {
  it(".ci/run runs the test command that README.md names", () => {
    const readme = readFileSync("README.md", "utf8");
    const marked = /<!-- test-command -->\s*```sh\n([^\n]+)\n```/.exec(readme);
    expect(marked?.[1]).toBe("npm ci && npm test");
    const printed = execFileSync(".ci/run", ["--print-command"], { encoding: "utf8" });
    expect(printed.trim()).toBe(marked?.[1]);
  });

  it("README names both set-up commands", () => {
    const readme = readFileSync("README.md", "utf8");
    expect(readme).toContain("npm ci && npm start");
    expect(readme).toContain("npm test");
  });

  it("npm test checks the tree, then runs the tiers one after another in order, the image last", () => {
    const steps = npmScripts().test?.split(" && ");
    expect(steps).toEqual([
      "node test/support/ensure-system-packages.mjs",
      "npm run typecheck",
      "npm run lint",
      "node --import tsx test/support/run-tiers.ts",
    ]);
    // run-tiers.ts walks TIER_ORDER, one vitest project at a time.
    const runner = readFileSync("test/support/run-tiers.ts", "utf8");
    expect(runner).toContain("for (const tier of TIER_ORDER)");
    expect(runner).toContain('["run", "--project", tier]');
    expect(TIER_ORDER).toEqual(["unit", "integration", "system", "image"]);
  });

  it("npm run test:fast runs the unit and integration tiers, test:unit the unit tier alone", () => {
    const scripts = npmScripts();
    expect(scripts["test:fast"]).toBe("vitest run --project unit && vitest run --project integration");
    expect(scripts["test:unit"]).toBe("vitest run --project unit");
  });
});
