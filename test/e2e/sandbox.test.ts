/**
 * `npm run sandbox` as a newcomer runs it: the script started as its own
 * process, kubectl applying crds/ and the examples it wrote, `send` and
 * `isp` from "another terminal", the printed `openssl s_client` STARTTLS
 * check (chain and name verified) with AUTH after it, then Ctrl-C, after
 * which nothing it started is left running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeClients } from "../kube/kube-tools.js";
import { freePort } from "../support/free-port.js";
import { alive, descendants } from "../support/processes.js";

const REPO_ROOT = resolve(import.meta.dirname, "../..");

describe("npm run sandbox", () => {
  let dir: string;
  let sandbox: ChildProcess;
  let output = "";
  const runScript = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "scripts/sandbox.ts", ...args, "--dir", dir],
        {
          cwd: REPO_ROOT,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.on("exit", (code) => done({ code, out }));
    });

  /** Runs openssl with these arguments, typing each line a moment after the last (s_client's -crlf). */
  const openssl = (args: string[], lines: string[]) =>
    new Promise<string>((done) => {
      const child = spawn("openssl", [...args, "-crlf", "-ign_eof"], { stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      const typing = lines.map((line, index) =>
        setTimeout(() => child.stdin?.write(`${line}\n`), 1_500 * (index + 1)),
      );
      const killer = setTimeout(() => child.kill(), 1_500 * (lines.length + 4));
      child.on("exit", () => {
        for (const timer of [...typing, killer]) clearTimeout(timer);
        done(out);
      });
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "relayfleet-sandbox-test-"));
    const port = await freePort();
    sandbox = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "scripts/sandbox.ts",
        "--dir",
        dir,
        "--port",
        String(port),
        "--address-prefix",
        "127.0.5",
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    sandbox.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    sandbox.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 60_000;
    while (!output.includes("Ctrl-C stops everything.")) {
      if (Date.now() > deadline || sandbox.exitCode !== null)
        throw new Error(`sandbox did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);

  afterAll(async () => {
    if (sandbox && sandbox.exitCode === null && sandbox.signalCode === null) {
      sandbox.kill("SIGINT");
      await once(sandbox, "exit");
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("takes the printed commands: kubectl apply, send, an ISP block routed around, and Ctrl-C leaves nothing", async () => {
    const { kubectl } = kubeClients(join(dir, "kubeconfig"), dir);
    // The commands the banner prints, as printed.
    expect(output).toContain("kubectl apply -f crds/");
    expect(output).toContain(`kubectl apply -f ${join(dir, "examples.yaml")}`);
    for (const path of ["crds/", join(dir, "examples.yaml")]) {
      const applied = await kubectl(["apply", "-f", path]);
      expect(applied.code, applied.stderr).toBe(0);
    }
    await expect.poll(() => output, { timeout: 60_000, interval: 250 }).toMatch(/account "sandbox" created/);

    // The printed STARTTLS check, as printed (with the relay's address for $RELAY): the chain and
    // the name verify, and AUTH as the sandbox account works once the session is TLS.
    const relay = (
      await kubectl([
        "get",
        "dnsendpoint",
        "marathon",
        "-n",
        "mail",
        "-o",
        "jsonpath={.spec.endpoints[0].targets[0]}",
      ])
    ).stdout.trim();
    const printed = /^ {2}(openssl s_client -starttls smtp .*)$/m.exec(output)?.[1];
    expect(printed, "the banner's openssl line").toBeDefined();
    const password = (await readFile(join(dir, "sandbox-password"), "utf8")).trim();
    const session = await openssl((printed as string).replace("$RELAY", relay).split(" ").slice(1), [
      "EHLO client.example.org",
      `AUTH PLAIN ${Buffer.from(`\0sandbox\0${password}`).toString("base64")}`,
      "QUIT",
    ]);
    expect(session).toContain("Verify return code: 0 (ok)");
    expect(session).toContain("Verified peername: smtp-marathon.example.com");
    expect(session).toMatch(/^250-AUTH PLAIN LOGIN/m);
    expect(session).toMatch(/^235 2\.7\.0 /m);

    const first = await runScript(["send", "--count", "40", "--concurrency", "4"]);
    expect(first.out).toMatch(/^40\/40 accepted in /m);

    // ISP A blocks the first outbound address, from "another terminal".
    const block = await runScript(["isp", "isp-a.test", "blocked", "--source", "127.0.0.2"]);
    expect(block).toEqual({ code: 0, out: "isp-a.test now answers blocked to mail from 127.0.0.2\n" });
    const bad = await runScript(["isp", "nowhere.test", "blocked"]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("domain: one of isp-a.test, isp-b.test");
    const badSource = await runScript(["isp", "isp-a.test", "blocked", "--source", "nowhere"]);
    expect(badSource.code).toBe(1);
    expect(badSource.out).toContain("source: an IP address");

    const second = await runScript(["send", "--count", "40", "--concurrency", "4"]);
    expect(second.out).toMatch(/^40\/40 accepted in /m);
    await expect
      .poll(
        async () =>
          (
            await kubectl([
              "get",
              "senderroute",
              "default",
              "-n",
              "mail",
              "-o",
              "jsonpath={.status.blocked[*].sender}",
            ])
          ).stdout,
        { timeout: 20_000, interval: 500 },
      )
      .toBe("isp-a-via-1");

    // Ctrl-C: everything the sandbox started stops with it.
    const started = descendants(sandbox.pid as number);
    expect(started.length).toBeGreaterThan(3); // relays, operator, Prometheus, Redis
    sandbox.kill("SIGINT");
    const [code] = (await once(sandbox, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(output).toContain("stopped; logs are under");
    await expect.poll(() => started.filter(alive), { timeout: 10_000, interval: 200 }).toEqual([]);
  }, 180_000);
});
