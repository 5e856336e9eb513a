/**
 * Thin helpers around the buildah CLI, shared by `npm run image` and the image
 * test. This machine has no container daemon: buildah runs as root with the
 * vfs storage driver (works everywhere, even inside another container's
 * overlay; RELAYFLEET_STORAGE_DRIVER=overlay saves disk where the kernel
 * allows it) and chroot isolation (RELAYFLEET_ISOLATION). Buildah 1.28 reads
 * no environment variable for the driver, so every call passes the flag.
 */
import { spawn } from "node:child_process";

export const STORAGE_DRIVER = process.env.RELAYFLEET_STORAGE_DRIVER || "vfs";
export const ISOLATION = process.env.RELAYFLEET_ISOLATION || "chroot";

/** `buildah` plus the global storage flag; the commands that run containers also get `--isolation ISOLATION`. */
export function buildahArgs(args: readonly string[]): string[] {
  return ["--storage-driver", STORAGE_DRIVER, ...args];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Stream the child's output to this process's stderr as it comes (long builds). */
  echo?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion; never throws for a non-zero exit (see `check`). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (options.echo) process.stderr.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (options.echo) process.stderr.write(chunk);
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The result of a command that must succeed; otherwise an error with its last output. */
export async function check(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-40).join("\n");
    throw new Error(`${command} ${args.join(" ")} exited with ${result.code}:\n${tail}`);
  }
  return result;
}

/** Why buildah cannot build here, or undefined when it can. */
export async function buildahUnavailable(): Promise<string | undefined> {
  const probe = await run("buildah", buildahArgs(["images", "--quiet"])).catch((error: Error) => ({
    code: -1,
    stdout: "",
    stderr: error.message,
  }));
  if (probe.code === 0) return undefined;
  return `buildah cannot run here (${probe.stderr.trim().split("\n")[0] || `exit ${probe.code}`}); it needs the Debian buildah package and root`;
}

export async function imageExists(name: string): Promise<boolean> {
  return (await run("buildah", buildahArgs(["inspect", "--type", "image", name]))).code === 0;
}

export interface ImageFacts {
  id: string;
  /** Sum of the layers as stored (uncompressed tar). */
  bytes: number;
  config: {
    User?: string;
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, object>;
  };
  layers: number;
}

interface InspectOutput {
  FromImageID: string;
  Manifest: string;
  OCIv1: { config?: ImageFacts["config"] };
}

export async function inspectImage(name: string): Promise<ImageFacts> {
  const { stdout } = await check("buildah", buildahArgs(["inspect", "--type", "image", name]));
  const inspected = JSON.parse(stdout) as InspectOutput;
  const manifest = JSON.parse(inspected.Manifest) as { layers: { size: number }[] };
  return {
    id: inspected.FromImageID,
    bytes: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
    config: inspected.OCIv1.config ?? {},
    layers: manifest.layers.length,
  };
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
