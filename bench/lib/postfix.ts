/**
 * Postfix's own tools for the comparison: a private Postfix instance (its
 * config, queue and data directories in a temp dir, a non-default port,
 * relayhost = an smtp-sink), smtp-sink with its message counter, and
 * smtp-source. Postfix needs root to start; the instance is stopped at the
 * end and on any abnormal exit.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort } from "../../test/support/free-port.js";
import { exited, onAbnormalExit, sleep, spawnTracked, stopChild, waitForPort } from "./proc.js";

export interface PostfixInstance {
  port: number;
  stop(): void;
}

function postfixUid(): number {
  return Number(execFileSync("id", ["-u", "postfix"], { encoding: "utf8" }).trim());
}

/**
 * A plain relay: accepts from loopback, queues on disk, relays everything to
 * [127.0.0.1]:sinkPort. Defaults except: 50 parallel deliveries to the
 * relayhost (the relay gets 50 too), no chroot, its own log file.
 */
export async function startPostfix(dir: string, sinkPort: number): Promise<PostfixInstance> {
  const conf = join(dir, "conf");
  const queue = join(dir, "queue");
  const data = join(dir, "data");
  for (const path of [conf, queue, data]) mkdirSync(path, { recursive: true });
  // Postfix's daemons run as the postfix user: they must reach the directories (mkdtemp makes 0700).
  for (const path of [dirname(dir), dir]) chmodSync(path, 0o755);
  chownSync(data, postfixUid(), 0);
  copyFileSync("/etc/postfix/master.cf", join(conf, "master.cf"));
  const port = await freePort();
  writeFileSync(
    join(conf, "main.cf"),
    [
      "compatibility_level = 3.6",
      `queue_directory = ${queue}`,
      `data_directory = ${data}`,
      "mail_owner = postfix",
      "setgid_group = postdrop",
      "myhostname = postfix.bench",
      "mydestination =",
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "mynetworks = 127.0.0.0/8",
      `relayhost = [127.0.0.1]:${sinkPort}`,
      "smtpd_relay_restrictions = permit_mynetworks, reject",
      "smtpd_client_connection_count_limit = 1000",
      "default_destination_concurrency_limit = 50",
      `maillog_file = ${join(dir, "maillog")}`,
      `maillog_file_prefixes = ${dir}`,
      "syslog_name = postfix-bench",
      "",
    ].join("\n"),
  );
  execFileSync("postconf", ["-c", conf, "-F", "*/*/chroot = n"]);
  // The default "smtp inet" listener becomes a loopback one on our port.
  execFileSync("postconf", ["-c", conf, "-M#", "smtp/inet"]);
  execFileSync("postconf", [
    "-c",
    conf,
    "-M",
    `127.0.0.1:${port}/inet = 127.0.0.1:${port} inet n - n - - smtpd`,
  ]);
  const stop = () => {
    try {
      execFileSync("postfix", ["-c", conf, "stop"], { stdio: "ignore" });
    } catch {
      // not running
    }
  };
  const forget = onAbnormalExit(stop);
  execFileSync("postfix", ["-c", conf, "start"], { stdio: "ignore" });
  await waitForPort(port, 20_000);
  return {
    port,
    stop: () => {
      stop();
      forget();
    },
  };
}

export interface SmtpSink {
  port: number;
  /** Messages smtp-sink has received so far (its -c counter). */
  count(): number;
  stop(): Promise<void>;
}

/** Postfix's smtp-sink on a free loopback port, counting messages. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const port = await freePort();
  const child = spawnTracked("smtp-sink", ["-c", "-u", "nobody", `127.0.0.1:${port}`, "1000"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  let count = 0;
  let pending = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    pending += chunk.toString("latin1");
    const matches = [...pending.matchAll(/mesg=(\d+)/g)];
    const last = matches[matches.length - 1];
    if (last) count = Number(last[1]);
    pending = pending.slice(-64);
  });
  await waitForPort(port, 10_000);
  return { port, count: () => count, stop: () => stopChild(child, 2000) };
}

export interface SourceRun {
  messages: number;
  /** A file with the message header and body (smtp-source -F). */
  file: string;
  sessions: number;
  port: number;
  from: string;
  to: string;
}

/** Runs smtp-source to completion (50 sessions that stay open, -d); answers its wall seconds. */
export async function runSmtpSource(run: SourceRun): Promise<number> {
  const started = performance.now();
  const child = spawnTracked("smtp-source", [
    "-d",
    "-s",
    String(run.sessions),
    "-m",
    String(run.messages),
    "-F",
    run.file,
    "-f",
    run.from,
    "-t",
    run.to,
    `127.0.0.1:${run.port}`,
  ]);
  const code = await exited(child);
  if (code !== 0) throw new Error(`smtp-source exited with ${code}`);
  return (performance.now() - started) / 1000;
}

/** Polls `count` until it reaches `target` or `timeoutMs` passes; answers the time it took (or undefined). */
export async function waitForCount(count: () => number | Promise<number>, target: number, timeoutMs: number) {
  const started = performance.now();
  while ((await count()) < target) {
    if (performance.now() - started > timeoutMs) return undefined;
    await sleep(20);
  }
  return (performance.now() - started) / 1000;
}
