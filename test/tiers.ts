/**
 * The suite's tiers (docs/testing.md), by folder: a test file's folder decides its tier, so a
 * test moved within a stage's folder keeps it. vitest.config.ts builds its projects from this
 * list, package.json runs them in this order, and test/tiers.test.ts checks that every test file
 * of the repo falls in exactly one.
 */
export type TierName = "unit" | "integration" | "system" | "image";

export interface Tier {
  name: TierName;
  /** Folders whose test files, at any depth, belong to the tier. */
  folders: readonly string[];
  /** Single test files outside those folders. */
  files: readonly string[];
  /** Folders and files under `folders` that belong to another tier. */
  except: readonly string[];
}

/** Relay processes, kubectl and helm, the test API server, Prometheus, Chromium, the fleet. */
const SYSTEM_FOLDERS = [
  "test/chart",
  "test/console",
  "test/e2e",
  "test/faults",
  "test/kube",
  "test/operator",
  "test/relay-process",
];
const IMAGE_FOLDERS = ["test/image"];
/** Checks of the tree itself: they read files and nothing else. */
const UNIT_FILES = ["test/tiers.test.ts"];

/** In the order `npm test` runs them: cheapest first, the image build last. */
export const TIERS: readonly Tier[] = [
  { name: "unit", folders: ["relay", "operator"], files: UNIT_FILES, except: [] },
  {
    name: "integration",
    folders: ["test"],
    files: [],
    except: [...SYSTEM_FOLDERS, ...IMAGE_FOLDERS, ...UNIT_FILES],
  },
  { name: "system", folders: SYSTEM_FOLDERS, files: [], except: [] },
  { name: "image", folders: IMAGE_FOLDERS, files: [], except: [] },
];

export const TIER_ORDER: readonly TierName[] = TIERS.map((tier) => tier.name);

const TEST_FILE = /\.test\.ts$/;

/** vitest `include` globs of a tier. */
export function includeGlobs(tier: Tier): string[] {
  return [...tier.folders.map((folder) => `${folder}/**/*.test.ts`), ...tier.files];
}

/** vitest `exclude` globs of a tier (on top of vitest's defaults). */
export function excludeGlobs(tier: Tier): string[] {
  return tier.except.map((path) => (TEST_FILE.test(path) ? path : `${path}/**`));
}

function within(path: string, folderOrFile: string): boolean {
  return path === folderOrFile || path.startsWith(`${folderOrFile}/`);
}

/** The tiers a repo-relative path (with `/`) falls in, by the same rules as the globs above. */
export function tiersOf(path: string): TierName[] {
  return TIERS.filter(
    (tier) =>
      (tier.files.includes(path) ||
        (TEST_FILE.test(path) && tier.folders.some((folder) => within(path, folder)))) &&
      !tier.except.some((excepted) => within(path, excepted)),
  ).map((tier) => tier.name);
}
