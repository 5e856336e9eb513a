/**
 * Runs `relayfleet relay` as a real child process (TypeScript through tsx),
 * for tests that kill it, restart it, or talk to it over every listener.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort } from "./free-port.js";

export interface RelayProcess {
  child: ChildProcess;
  smtpPort: number;
  apiPort: number;
  metricsPort: number;
  output: () => string;
  /** SIGKILL, no goodbye. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
}

export async function writeRelayConfig(dir: string, config: Record<string, unknown>): Promise<string> {
  const file = join(dir, "relay.yaml");
  await writeFile(file, stringify(config));
  return file;
}

function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export interface RelayProcessOptions {
  /** Runs the relay under another program (e.g. ["strace", "-f", "-o", FILE]): the relay's argv follows it. */
  wrapper?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the relay to be up. Default 60 s: tsx compiles the relay on start, on a shared machine. */
  startTimeoutMs?: number;
  /** The address that shows the relay is up, when the config names its own SMTP listeners. */
  ready?: { host: string; port: number };
}

/** Starts a relay from a config object; listeners get free ports unless the config names them. */
export async function startRelayProcess(
  dir: string,
  config: Record<string, unknown>,
  options: RelayProcessOptions = {},
): Promise<RelayProcess> {
  const smtpPort = await freePort();
  const apiPort = await freePort();
  const metricsPort = await freePort();
  const full = {
    dataDir: join(dir, "data"),
    logLevel: "warn",
    listen: {
      smtp: [`127.0.0.1:${smtpPort}`],
      api: `127.0.0.1:${apiPort}`,
      tracking: `127.0.0.1:${await freePort()}`,
      metrics: `127.0.0.1:${metricsPort}`,
    },
    ...config,
  };
  const file = await writeRelayConfig(dir, full);
  const relayArgv = [process.execPath, "--import", "tsx", "bin/relayfleet.ts", "relay", "--config", file];
  const [command, ...args] = [...(options.wrapper ?? []), ...relayArgv] as [string, ...string[]];
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, REDIS_URL: "", ...options.env },
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + startTimeoutMs;
  const ready = options.ready ?? { host: "127.0.0.1", port: smtpPort };
  while (!(await portOpen(ready.port, ready.host))) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`relay did not open SMTP port within ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    smtpPort,
    apiPort,
    metricsPort,
    output: () => output,
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
