/**
 * Runs the built image with `buildah run` (no container daemon here): a
 * working container per test, the image's own ENTRYPOINT and CMD, host
 * folders mounted where Kubernetes would mount a ConfigMap and a volume.
 * Chroot isolation shares the host's network, so listeners on 127.0.0.1 are
 * reachable from the test as they are.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdir, readFile } from "node:fs/promises";
import { buildahArgs, check, type ImageFacts, ISOLATION, run } from "../../scripts/image/buildah.js";

export interface Container {
  name: string;
  /** The container's root file system on the host (buildah mount). */
  root: string;
  /** The image's ENTRYPOINT followed by `args`, or by its CMD when `args` is absent. */
  start(options: { args?: string[]; volumes?: string[] }): ContainerProcess;
  remove(): Promise<void>;
}

export interface ContainerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /**
   * SIGTERM to the process inside (as the kubelet sends it), then SIGKILL after
   * `graceMs`; resolves with the exit code. `buildah run` itself answers SIGTERM
   * by killing its child, so the signal goes past it.
   */
  stop(graceMs?: number): Promise<number | null>;
}

/** A working container of `image`, which runs with `config` (the image's, from inspectImage). */
export async function createContainer(image: string, config: ImageFacts["config"]): Promise<Container> {
  if (!config.Entrypoint) throw new Error(`${image} has no ENTRYPOINT`);
  const entrypoint = config.Entrypoint;
  const defaultArgs = config.Cmd ?? [];
  const name = `relayfleet-test-${randomBytes(4).toString("hex")}`;
  await check("buildah", buildahArgs(["from", "--pull-never", "--name", name, image]));
  const root = (await check("buildah", buildahArgs(["mount", name]))).stdout.trim();
  return {
    name,
    root,
    start({ args, volumes = [] }) {
      return startIn(name, [...entrypoint, ...(args ?? defaultArgs)], volumes);
    },
    async remove() {
      await run("buildah", buildahArgs(["rm", name]));
    },
  };
}

function startIn(name: string, argv: string[], volumes: string[]): ContainerProcess {
  const child = spawn(
    "buildah",
    buildahArgs(["run", "--isolation", ISOLATION, ...volumes.flatMap((v) => ["-v", v]), name, "--", ...argv]),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    output: () => output,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const inside = child.pid === undefined ? undefined : await innermostDescendant(child.pid);
      if (inside === undefined) child.kill("SIGTERM");
      else process.kill(inside, "SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The last process in the chain of children under `pid` (buildah → chroot runtime → the entry point). */
async function innermostDescendant(pid: number): Promise<number | undefined> {
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  let current: number | undefined;
  let next: number | undefined = pid;
  while (next !== undefined) {
    current = next;
    next = [...parents].find(([, ppid]) => ppid === current)?.[0];
  }
  return current === pid ? undefined : current;
}
