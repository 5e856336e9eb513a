/**
 * Where the relay's CPU seconds go: one full-mode smtp-source run (2 KB text,
 * 50 connections) against a relay started with --cpu-prof, the V8 profile's
 * self time grouped by package or relay folder and by function.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeMessage } from "../lib/messages.js";
import { runSmtpSource, startSmtpSink, waitForCount } from "../lib/postfix.js";
import { cpuSeconds } from "../lib/proc.js";
import { benchAccount, REPO_ROOT, startRelayProcess } from "../lib/relay-process.js";

export interface ProfileShare {
  name: string;
  percent: number;
}

export interface ProfileResult {
  messages: number;
  cpuMsPerMessage: number;
  byArea: ProfileShare[];
  byFunction: ProfileShare[];
}

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

/** The package, relay folder or V8 bucket a profiled function belongs to. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] === "tsx" || pkg[1] === "esbuild" ? "tsx loader" : (pkg[1] as string);
  if (url.startsWith("node:")) {
    const path = url.slice("node:".length).replace(/^internal\//, "");
    return `node:${path.split("/")[0]}`;
  }
  const local = url.replace(`file://${REPO_ROOT}`, "");
  const parts = local.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : local;
}

/** Self time by area and by function, counting only samples taken `skipMs` or more after the profile began. */
export function summarize(
  profile: CpuProfile,
  skipMs = 0,
): { byArea: ProfileShare[]; byFunction: ProfileShare[] } {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  // A native frame (socket write, fs call, sign) is charged to the nearest JavaScript caller's area.
  const callerArea = (id: number): string => {
    for (let at = parents.get(id); at !== undefined; at = parents.get(at)) {
      const frame = nodes.get(at)?.callFrame;
      if (frame?.url) return `${areaOf(frame.url, frame.functionName)} (native)`;
    }
    return "(native)";
  };
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  let elapsedUs = 0;
  profile.samples.forEach((id, i) => {
    const node = nodes.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    elapsedUs += delta;
    if (elapsedUs < skipMs * 1000) return; // start-up: module loading and tsx compilation
    if (!node || node.callFrame.functionName === "(idle)") return;
    total += delta;
    const { url, functionName } = node.callFrame;
    const area = url || functionName.startsWith("(") ? areaOf(url, functionName) : callerArea(id);
    areas.set(area, (areas.get(area) ?? 0) + delta);
    const where = node.callFrame.url.replace(/^.*\/(node_modules\/|relay\/)/, "$1");
    const label = `${node.callFrame.functionName || "(anonymous)"} ${where ? `${where}:${node.callFrame.lineNumber + 1}` : ""}`;
    functions.set(label.trim(), (functions.get(label.trim()) ?? 0) + delta);
  });
  const top = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, time]) => ({ name, percent: (time / total) * 100 }));
  return { byArea: top(areas, 14), byFunction: top(functions, 15) };
}

export async function runProfile(options: { dir: string; messages: number }): Promise<ProfileResult> {
  const sink = await startSmtpSink();
  const profileDir = join(options.dir, "cpu-profile");
  const spawned = performance.now();
  const relay = await startRelayProcess({
    name: "profile",
    mode: "full",
    dir: join(options.dir, "profile"),
    nodeFlags: ["--cpu-prof", "--cpu-prof-dir", profileDir],
    routes: {
      default: {
        senders: [{ name: "sink", host: "127.0.0.1", port: sink.port, tls: "none", maxConnections: 50 }],
      },
    },
    accounts: [benchAccount("bench", "bench.test")],
  });
  const file = join(options.dir, "profile.eml");
  await writeFile(file, makeMessage("text2k", "app@bench.test", "rcpt@sink.test"));
  let cpuMs = 0;
  let startUpMs = 0;
  try {
    startUpMs = performance.now() - spawned;
    const before = cpuSeconds(relay.pid);
    await runSmtpSource({
      messages: options.messages,
      file,
      sessions: 50,
      port: relay.smtpPort,
      from: "app@bench.test",
      to: "rcpt@sink.test",
    });
    await waitForCount(sink.count, options.messages, 120_000);
    cpuMs = ((cpuSeconds(relay.pid) - before) * 1000) / options.messages;
  } finally {
    await relay.stop();
    await sink.stop();
  }
  const [name] = (await readdir(profileDir)).filter((f) => f.endsWith(".cpuprofile"));
  if (!name) throw new Error("the relay wrote no CPU profile");
  const profile = JSON.parse(await readFile(join(profileDir, name), "utf8")) as CpuProfile;
  return { messages: options.messages, cpuMsPerMessage: cpuMs, ...summarize(profile, startUpMs) };
}
