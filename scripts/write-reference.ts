/**
 * Writes docs/reference/*.md from the code they describe (run with tsx:
 * `npx tsx scripts/write-reference.ts`); test/reference/reference.test.ts
 * fails while a committed file differs from what this writes.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REFERENCE_DIR, referenceFiles } from "./reference/index.js";
import { ROOT } from "./reference/source.js";

mkdirSync(join(ROOT, REFERENCE_DIR), { recursive: true });
for (const [name, text] of Object.entries(referenceFiles())) {
  writeFileSync(join(ROOT, REFERENCE_DIR, name), text);
  process.stdout.write(`wrote ${REFERENCE_DIR}/${name}\n`);
}
