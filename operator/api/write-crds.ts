/**
 * Writes crds/*.yaml, and the chart's copy in charts/relayfleet/crds/, from
 * operator/api (run with tsx: `npx tsx operator/api/write-crds.ts`).
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { crdFiles } from "./crds.js";

const root = resolve(import.meta.dirname, "..", "..");
for (const dir of ["crds", "charts/relayfleet/crds"])
  for (const [name, text] of Object.entries(crdFiles())) {
    writeFileSync(join(root, dir, name), text);
    process.stdout.write(`wrote ${dir}/${name}\n`);
  }
