import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

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
});
