/**
 * docs/reference/*.md are what scripts/write-reference.ts generates from the
 * code (run `npx tsx scripts/write-reference.ts` after a change), and the
 * scans they rest on miss nothing the code registers or sends.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createOperatorMetrics } from "../../operator/metrics.js";
import { RELAY_ERRORS } from "../../relay/errors.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { REFERENCE_DIR, referenceFiles } from "../../scripts/reference/index.js";
import { metricsInSource } from "../../scripts/reference/metrics.js";
import { repliesInSource } from "../../scripts/reference/smtp-replies.js";
import { ROOT, sourceFiles } from "../../scripts/reference/source.js";

const committed = (name: string) => readFileSync(join(ROOT, REFERENCE_DIR, name), "utf8");

describe("docs/reference", () => {
  it("is exactly what scripts/write-reference.ts generates (run `npx tsx scripts/write-reference.ts`)", () => {
    for (const [name, text] of Object.entries(referenceFiles()))
      expect(committed(name), `${REFERENCE_DIR}/${name}`).toBe(text);
  });

  it("smtp-replies.md names every reply code written in the source and every code of the vocabulary", () => {
    const doc = committed("smtp-replies.md");
    const replies = repliesInSource(sourceFiles(["relay"]));
    expect(replies.size).toBeGreaterThan(5);
    for (const reply of replies) expect(doc, reply).toContain(`\`${reply}\``);
    for (const [name, spec] of Object.entries(RELAY_ERRORS)) {
      expect(doc, name).toContain(`\`${name}\``);
      expect(doc, name).toContain(`\`${spec.responseCode} ${spec.enhancedCode}\``);
    }
  });

  it("metrics.md lists every metric the relay's and the operator's registries hold", async () => {
    const scanned = new Set(metricsInSource(sourceFiles()).map((m) => m.name));
    const registered = [
      ...(await createMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()),
      ...(await createOperatorMetrics().registry.getMetricsAsJSON()),
    ];
    expect(registered.length).toBeGreaterThan(10);
    for (const metric of registered) expect(scanned, metric.name).toContain(metric.name);
    const doc = committed("metrics.md");
    for (const name of scanned) expect(doc, name).toContain(`\`${name}\``);
  });

  it("config.md has a description for every relay.yaml key", () => {
    const rows = committed("config.md")
      .split("\n")
      .filter((line) => line.startsWith("| `"));
    expect(rows.length).toBeGreaterThan(100);
    for (const row of rows) expect(row.trimEnd(), row).not.toMatch(/\|\s*\|$/);
  });
});
