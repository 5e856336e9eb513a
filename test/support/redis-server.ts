/**
 * A private redis-server for tests, on a free loopback port, keeping nothing on disk.
 * Tests share one per run (global-setup.ts) and isolate themselves with a unique
 * key prefix; a test that needs to stop Redis starts its own.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createConnection } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./free-port.js";

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

export function requireRedisServerBinary(): void {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      "redis-server is not on PATH; the tests need a real Redis. Install it with: apt-get install -y redis-server",
    );
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(500);
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString().startsWith("+PONG"));
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * `args`: more redis-server options (a cluster node's, say; later options win, so
 * `--appendonly yes --dir DIR` keeps data across a restart). `port`: this one, e.g. to
 * start a killed server again where its clients look for it.
 */
export async function startRedisServer(
  options: { args?: readonly string[]; port?: number } = {},
): Promise<RedisServer & { kill9(): Promise<void> }> {
  requireRedisServerBinary();
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = options.port ?? (await freePort());
    const child: ChildProcess = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        ...(options.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    child.stdout?.resume();
    child.stderr?.resume();
    for (let i = 0; i < 100 && !exited; i++) {
      if (await ping(port)) {
        return {
          url: `redis://127.0.0.1:${port}`,
          port,
          async stop() {
            if (exited) return;
            const done = once(child, "exit");
            child.kill("SIGTERM");
            await done;
          },
          async kill9() {
            if (exited) return;
            const done = once(child, "exit");
            child.kill("SIGKILL");
            await done;
          },
        };
      }
      await sleep(50);
    }
    if (!exited) child.kill("SIGKILL");
  }
  throw new Error("could not start redis-server on a free port after 5 attempts");
}
