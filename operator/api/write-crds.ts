/** Writes crds/*.yaml from operator/api (run with tsx: `npx tsx operator/api/write-crds.ts`). */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { crdFiles } from "./crds.js";

const dir = resolve(import.meta.dirname, "..", "..", "crds");
for (const [name, text] of Object.entries(crdFiles())) {
  writeFileSync(join(dir, name), text);
  process.stdout.write(`wrote crds/${name}\n`);
}
