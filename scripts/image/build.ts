/**
 * `npm run image [-- --base IMAGE] [--tag NAME]`: builds the relayfleet image
 * from the root Containerfile with buildah and prints its size. Without
 * --base it builds on the local Debian + Node base (scripts/image/base.ts),
 * made once per machine; with a registry, `--base docker.io/library/node:20.20.2-bookworm`
 * builds the same image on the official Node image instead.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureBase } from "./base.js";
import {
  buildahArgs,
  buildahUnavailable,
  check,
  type ImageFacts,
  ISOLATION,
  inspectImage,
  megabytes,
  run,
} from "./buildah.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Build scratch space and state, in a git-ignored folder. */
const WORK_DIR = join(REPO_ROOT, ".tools", "image");
const INTERMEDIATES_FILE = join(WORK_DIR, "intermediates.json");

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** The name the chart and RelayPool's default refer to (CONTRACT.md: `image: relayfleet:0.1.0`). */
export function defaultTag(): string {
  return `relayfleet:${packageVersion()}`;
}

export interface BuildOptions {
  base?: string;
  tag?: string;
  log?: (line: string) => void;
  /** Stream buildah's output (the CLI does; the test keeps it for failures only). */
  echo?: boolean;
}

export interface BuiltImage extends ImageFacts {
  name: string;
  base: string;
  seconds: number;
}

function gitRevision(): string {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** The CA bundle npm is configured with here (a TLS-inspecting proxy's), handed to the build as a secret. */
function npmCafile(): string | undefined {
  try {
    const value = execFileSync("npm", ["config", "get", "cafile"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    }).trim();
    return value && value !== "null" && value !== "undefined" && existsSync(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The image IDs a `buildah bud --layers` run made or reused: its "--> ID" and
 * "--> Using cache ID" lines, shortened to the 11 characters buildah prints
 * for new ones, so both forms compare equal.
 */
export function imageIdsInOutput(output: string): string[] {
  const ids = [...output.matchAll(/^--> (?:Using cache )?([0-9a-f]{11,64})$/gm)].map((match) =>
    (match[1] as string).slice(0, 11),
  );
  return [...new Set(ids)];
}

/**
 * With --layers every step leaves an image, and vfs stores each as a full
 * copy of its tree: remove the ones earlier builds here made that this build
 * no longer uses, keeping this build's chain as the cache for the next.
 */
async function pruneStaleIntermediates(
  current: readonly string[],
  log: (line: string) => void,
): Promise<void> {
  let previous: string[] = [];
  try {
    previous = JSON.parse(await readFile(INTERMEDIATES_FILE, "utf8")) as string[];
  } catch {
    // First build here, or the state was removed: nothing of ours to prune.
  }
  const keep = new Set(current);
  const stale = previous.filter((id) => !keep.has(id.slice(0, 11)));
  for (const id of stale) await run("buildah", buildahArgs(["rmi", id]));
  if (stale.length > 0) log(`removed ${stale.length} intermediate images of earlier builds`);
  await mkdir(WORK_DIR, { recursive: true });
  await writeFile(INTERMEDIATES_FILE, `${JSON.stringify([...keep])}\n`);
}

export async function buildImage(options: BuildOptions = {}): Promise<BuiltImage> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const unavailable = await buildahUnavailable();
  if (unavailable) throw new Error(unavailable);
  const base = options.base ?? (await ensureBase(WORK_DIR, undefined, log));
  const name = options.tag ?? defaultTag();
  const cafile = npmCafile();
  log(`building ${name} on ${base}`);
  const built = await check(
    "buildah",
    buildahArgs([
      "bud",
      "--isolation",
      ISOLATION,
      "--layers",
      "--force-rm",
      "-f",
      "Containerfile",
      "--build-arg",
      `BASE=${base}`,
      "--build-arg",
      `VERSION=${packageVersion()}`,
      "--build-arg",
      `REVISION=${gitRevision()}`,
      ...(cafile ? ["--secret", `id=npm_cafile,src=${cafile}`] : []),
      "-t",
      name,
      ".",
    ]),
    { cwd: REPO_ROOT, echo: options.echo ?? false },
  );
  // buildah prints the "--> ID" lines on stdout or stderr depending on the step.
  await pruneStaleIntermediates(imageIdsInOutput(`${built.stdout}\n${built.stderr}`), log);
  const facts = await inspectImage(name);
  return { ...facts, name, base, seconds: (Date.now() - started) / 1000 };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { base: { type: "string" }, tag: { type: "string" } },
    strict: true,
  });
  const image = await buildImage({
    ...(values.base ? { base: values.base } : {}),
    ...(values.tag ? { tag: values.tag } : {}),
    log: (line) => process.stderr.write(`image: ${line}\n`),
    echo: true,
  });
  process.stdout.write(
    `${image.name} (${image.id.slice(0, 12)}): ${megabytes(image.bytes)} in ${image.layers} layers, built in ${image.seconds.toFixed(0)} s on ${image.base}\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`image: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
