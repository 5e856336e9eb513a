/** The relay's and operator's TypeScript sources (tests left out), read once for the scans. */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..", "..");

export interface SourceFile {
  /** Relative to the repository root, with forward slashes. */
  path: string;
  text: string;
}

export function sourceFiles(dirs: readonly string[] = ["relay", "operator"]): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (
        entry.name.endsWith(".ts") &&
        !entry.name.endsWith(".test.ts") &&
        !entry.name.endsWith(".d.ts")
      )
        files.push({ path: relative(ROOT, full).split("\\").join("/"), text: readFileSync(full, "utf8") });
    }
  };
  for (const dir of dirs) walk(join(ROOT, dir));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The text of the string literal ("...", '...' or `...`) starting at `text[at]`, or undefined. */
export function stringLiteralAt(text: string, at: number): string | undefined {
  const quote = text[at];
  if (quote !== '"' && quote !== "'" && quote !== "`") return undefined;
  let out = "";
  for (let i = at + 1; i < text.length; i++) {
    const char = text[i];
    if (char === "\\") {
      out += text[i + 1] ?? "";
      i++;
    } else if (char === quote) return out;
    else out += char;
  }
  return undefined;
}
