/**
 * `npm test`'s tiers (docs/testing.md): unit, integration, system and image, each a vitest
 * project, run one after another in TIER_ORDER; the first tier that fails ends the run with its
 * exit code. The image's build is the one slow step no test needs to watch (about 8 minutes on
 * a cold cache: debootstrap, node, npm ci with the addon compiled), so it starts in the
 * background at once; the image tier, still run last, then finds the image in buildah's layer
 * cache instead of building it for minutes after every other tier is done. Its log is
 * .relayfleet/image-prebuild.log; if it fails, the image tier builds again and reports why.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildahUnavailable } from "../../scripts/image/buildah.js";
import { TIER_ORDER } from "../tiers.js";

const ROOT = resolve(import.meta.dirname, "../..");
const VITEST = join(ROOT, "node_modules", ".bin", "vitest");
const PREBUILD_LOG = join(ROOT, ".relayfleet", "image-prebuild.log");

interface Prebuild {
  /** The build's exit code (undefined: no build was started). */
  done: Promise<number | null | undefined>;
  stop(): void;
}

async function startImagePrebuild(): Promise<Prebuild> {
  if (await buildahUnavailable()) return { done: Promise.resolve(undefined), stop: () => {} };
  mkdirSync(join(ROOT, ".relayfleet"), { recursive: true });
  const log = createWriteStream(PREBUILD_LOG);
  // Its own process group, so stopping it also stops the buildah it runs.
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "scripts/image/build.ts"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const done = new Promise<number | null>((settle) => {
    child.once("error", () => settle(1));
    child.once("exit", (code) => {
      log.end();
      settle(code);
    });
  });
  return {
    done,
    stop: () => {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          // Already gone.
        }
      }
    },
  };
}

function runTier(tier: string): Promise<number> {
  return new Promise((settle) => {
    const child = spawn(VITEST, ["run", "--project", tier], { cwd: ROOT, stdio: "inherit" });
    child.once("error", () => settle(1));
    child.once("exit", (code, signal) => settle(code ?? (signal ? 1 : 0)));
  });
}

const prebuild = await startImagePrebuild();
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    prebuild.stop();
    process.exit(130);
  });
for (const tier of TIER_ORDER) {
  if (tier === "image") {
    const code = await prebuild.done;
    if (code !== undefined && code !== 0)
      console.warn(
        `the image's background build exited with ${code} (${PREBUILD_LOG}); the image tier builds it again`,
      );
  }
  const code = await runTier(tier);
  if (code !== 0) {
    prebuild.stop();
    process.exit(code);
  }
}
