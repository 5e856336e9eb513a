/**
 * `npx tsx bench/attacks.ts --repo PATH [--out FILE.json] [--cap SECONDS] [--only a,b]`:
 * how long a relay is unavailable to everyone else while a stranger (or a customer, or a
 * next hop) feeds it text that makes a regex or a rewrite slow (HOSTILE-INPUTS rows 22-24;
 * bench/ATTACKS.md).
 *
 * For every attack a fresh relay of the checkout at --repo runs from source
 * (`node --import tsx bin/relayfleet.ts relay --config CFG`, cwd = that checkout), so the
 * same script measures an older tree against a newer one. Only config keys every version
 * has are used. While the attack runs, another account sends an ordinary small message every
 * 250 ms (each on its own connection, send start to 250) and GET /healthz on the API listener
 * is asked every 100 ms; reported are the worst probe latency, the longest gap between /healthz
 * answers, and what the relay made of the attack input. An attack that has not finished
 * within --cap seconds, or probes never answered, read "> cap".
 */
import { execFileSync } from "node:child_process";
import { openSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../test/support/free-port.js";
import { loadAverage, sleep, spawnTracked, stopChild, waitForPort } from "./lib/proc.js";
import { startTimingSink, type TimingSink } from "./lib/timing-sink.js";

const BOUNCE_DOMAIN = "bounces.attack.example";
const LOOP_ADDRESS = `fbl@${BOUNCE_DOMAIN}`;
const API_TOKEN = "attack-bench-admin-token-0123456789";
const PROBE_EVERY_MS = 250;
const HEALTH_EVERY_MS = 100;
/** After the attack ends, probes go on this long to see the relay answer normally again. */
const AFTER_MS = 3_000;
/** Probes still open when the window closes get this long to answer before they count as lost. */
const GRACE_MS = 10_000;

// ------------------------------------------------------------------ attack inputs

type Target = "feedback" | "delivery";

interface Attack {
  name: string;
  what: string;
  /** feedback: an unauthenticated report to the loop address; delivery: a customer's message. */
  target: Target;
  /** The message (headers + body, CRLF lines). */
  message: () => string;
  /** For delivery attacks: the next hop's answer to RCPT (CRLF-joined reply lines), or accept. */
  nextHopRcpt?: () => string;
}

/** Lines of at most `width` characters (a report's long runs need not be one SMTP line). */
function wrapped(text: string, width = 900): string {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return lines.join("\r\n");
}

function feedbackMessage(headers: string[], body: string): string {
  return [
    "From: <reporter@isp.attack.example>",
    `To: <${LOOP_ADDRESS}>`,
    "Subject: report",
    "Message-ID: <attack@isp.attack.example>",
    "MIME-Version: 1.0",
    ...headers,
    "",
    body,
    "",
  ].join("\r\n");
}

function customerMessage(headers: string[], body: string): string {
  return [
    "From: <news@customer.example>",
    "To: <reader@dest.attack.example>",
    "Subject: newsletter",
    "Message-ID: <newsletter@customer.example>",
    "MIME-Version: 1.0",
    ...headers,
    "",
    body,
    "",
  ].join("\r\n");
}

/** A next hop's multi-line refusal: every line but the last is "550-". */
function multiLineReply(lines: string[]): string {
  return lines.map((line, i) => `550${i === lines.length - 1 ? " " : "-"}${line}`).join("\r\n");
}

const ATTACKS: Attack[] = [
  {
    name: "complaint-html",
    what: "unauthenticated report to the feedback-loop address: a text/html body of 900,000 '<' (the report reader strips tags from it)",
    target: "feedback",
    message: () =>
      feedbackMessage(["Content-Type: text/html; charset=us-ascii"], wrapped("<".repeat(900_000))),
  },
  {
    name: "next-hop-reply",
    what: 'next hop refuses RCPT with a 2,000-line reply of "source ip" words, while the relay delivers a customer\'s message to it',
    target: "delivery",
    message: () => customerMessage(["Content-Type: text/plain; charset=us-ascii"], "Hello."),
    nextHopRcpt: () =>
      multiLineReply(Array.from({ length: 2_000 }, () => `5.7.1 ${"source ip ".repeat(40).trim()}`)),
  },
  {
    name: "customer-html-links",
    what: "customer's HTML of 150,000 '<a ' then a link whose URL ends in 100,000 ')' (link rewriting, the generated text alternative with text click tracking)",
    target: "delivery",
    message: () =>
      customerMessage(
        ["Content-Type: text/html; charset=us-ascii"],
        // The URL stays on one line, as the alternative's text will have it.
        `${wrapped(`<html><body>${"<a ".repeat(150_000)}`)}\r\nhref="https://x.attack.example/${")".repeat(100_000)}">link</a>\r\n</body></html>`,
      ),
  },
  {
    name: "report-40k-lt",
    what: "unauthenticated report: a text/html body of 40,000 '<'",
    target: "feedback",
    message: () =>
      feedbackMessage(["Content-Type: text/html; charset=us-ascii"], wrapped("<".repeat(40_000))),
  },
  {
    name: "mime-40k-spaces",
    what: "unauthenticated report: a multipart whose part has one line of 40,000 spaces then 'x' (the feedback MIME splitter trims line ends)",
    target: "feedback",
    message: () =>
      feedbackMessage(
        ['Content-Type: multipart/mixed; boundary="b1"'],
        ["--b1", "Content-Type: text/plain", "", `${" ".repeat(40_000)}x`, "--b1--"].join("\r\n"),
      ),
  },
  {
    name: "dsn-source-ip",
    what: 'unauthenticated DSN to the feedback-loop address whose Diagnostic-Code is "source ip " x 4,000 (the bounce classifier\'s block rules)',
    target: "feedback",
    message: () =>
      feedbackMessage(
        ['Content-Type: multipart/report; report-type=delivery-status; boundary="b1"'],
        [
          "--b1",
          "Content-Type: text/plain",
          "",
          "Delivery failed.",
          "--b1",
          "Content-Type: message/delivery-status",
          "",
          "Reporting-MTA: dns; mx.isp.attack.example",
          "",
          "Final-Recipient: rfc822; someone@isp.attack.example",
          "Action: failed",
          `Diagnostic-Code: smtp; 550 ${"source ip ".repeat(4_000).trim()}`,
          "--b1--",
        ].join("\r\n"),
      ),
  },
  {
    name: "reply-source-ip",
    what: 'next hop refuses RCPT with one line of "source ip " x 4,000 while the relay delivers a customer\'s message',
    target: "delivery",
    message: () => customerMessage(["Content-Type: text/plain; charset=us-ascii"], "Hello."),
    nextHopRcpt: () => `550 5.7.1 ${"source ip ".repeat(4_000).trim()}`,
  },
];

// ------------------------------------------------------------------ a small SMTP client

interface Dialog {
  /** Every reply, in order (multi-line replies joined with "\n"). */
  replies: string[];
  /** The last reply, or why there was none ("timeout", "connection closed"). */
  final: string;
  ok: boolean;
  finishedAt: number;
}

/**
 * One transaction on a fresh connection: EHLO, MAIL, RCPT, DATA, QUIT. Stops at the first
 * refusal. Gives up at `deadline` (absolute ms) with final "timeout".
 */
function sendOnce(
  port: number,
  envelope: { from: string; to: string },
  message: string,
  deadline: number,
): Promise<Dialog> {
  return new Promise((resolveDialog) => {
    const replies: string[] = [];
    let buffered = "";
    let pendingLines: string[] = [];
    let step = 0;
    let settled = false;
    const socket = connect(port, "127.0.0.1");
    const finish = (final: string, ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolveDialog({ replies, final, ok, finishedAt: Date.now() });
    };
    const timer = setTimeout(() => finish("timeout", false), Math.max(0, deadline - Date.now()));
    const stuffed = message.replace(/\r\n\./g, "\r\n..");
    // Each step: what to send after the previous reply, and the reply class that lets it go on.
    const steps: { send?: string; expect: number }[] = [
      { expect: 2 },
      { send: "EHLO attack.bench\r\n", expect: 2 },
      { send: `MAIL FROM:<${envelope.from}>\r\n`, expect: 2 },
      { send: `RCPT TO:<${envelope.to}>\r\n`, expect: 2 },
      { send: "DATA\r\n", expect: 3 },
      { send: `${stuffed.endsWith("\r\n") ? stuffed : `${stuffed}\r\n`}.\r\n`, expect: 2 },
    ];
    const onReply = (reply: string) => {
      replies.push(reply);
      const current = steps[step];
      if (!current || reply[0] !== String(current.expect)) return finish(reply, false);
      step++;
      const next = steps[step];
      if (!next) {
        socket.write("QUIT\r\n");
        return finish(reply, true);
      }
      socket.write(next.send ?? "");
    };
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      let newline = buffered.indexOf("\n");
      while (newline !== -1) {
        const line = buffered.slice(0, newline).replace(/\r$/, "");
        buffered = buffered.slice(newline + 1);
        pendingLines.push(line);
        if (line[3] !== "-") {
          const reply = pendingLines.join("\n");
          pendingLines = [];
          onReply(reply);
          if (settled) return;
        }
        newline = buffered.indexOf("\n");
      }
    });
    socket.on("error", (error) => finish(`connection error: ${error.message}`, false));
    socket.on("close", () => finish("connection closed", false));
  });
}

// ------------------------------------------------------------------ the relay under test

interface RelayUnderTest {
  smtpPort: number;
  apiPort: number;
  logFile: string;
  stop(): Promise<void>;
}

async function startRelay(
  repo: string,
  dir: string,
  sinkPort: number,
  nextHopPort: number,
): Promise<RelayUnderTest> {
  await mkdir(dir, { recursive: true });
  const [smtpPort, apiPort, metricsPort, trackingPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const sender = (name: string, port: number) => ({ name, host: "127.0.0.1", port, tls: "none" });
  // Keys every relay version has (relay/config/schema.ts); JSON is YAML.
  const config = {
    hostname: "relay.attack.bench",
    listen: {
      smtp: [`127.0.0.1:${smtpPort}`],
      api: `127.0.0.1:${apiPort}`,
      metrics: `127.0.0.1:${metricsPort}`,
      tracking: `127.0.0.1:${trackingPort}`,
    },
    dataDir: join(dir, "data"),
    trackingBaseUrl: "https://t.attack.example",
    apiToken: API_TOKEN,
    mode: "full",
    logLevel: "warn",
    intake: { maxConnectionsPerIp: 1000, minFreeBytes: 0, greetingDelayMs: 0 },
    bounceDomain: BOUNCE_DOMAIN,
    feedback: { loopAddresses: ["fbl"] },
    routes: {
      default: { senders: [sender("sink", sinkPort)] },
      nexthop: { senders: [sender("nexthop", nextHopPort)] },
    },
    accounts: [
      { name: "ordinary", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@ordinary.example"] },
      {
        name: "customer",
        allowedIps: ["127.0.0.0/8"],
        allowedFrom: ["*@customer.example"],
        route: "nexthop",
        tracking: { opens: true, clicks: true, textClicks: true },
      },
    ],
  };
  const configFile = join(dir, "relay.yaml");
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const logFile = join(dir, "relay.log");
  const log = openSync(logFile, "a");
  const child = spawnTracked(
    process.execPath,
    ["--import", "tsx", "bin/relayfleet.ts", "relay", "--config", configFile],
    { cwd: repo, stdio: ["ignore", log, log], env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  const died = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`relay exited (${code}) while starting; see ${logFile}`))),
  );
  died.catch(() => {});
  // A relay from source on a loaded machine can take a while to compile and open its store.
  await Promise.race([waitForPort(smtpPort, 180_000), died]);
  await Promise.race([waitForPort(apiPort, 180_000), died]);
  return { smtpPort, apiPort, logFile, stop: () => stopChild(child, 5_000) };
}

async function healthz(apiPort: number, deadline: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${apiPort}/healthz`, {
      signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
    });
    await response.arrayBuffer();
    return Date.now();
  } catch {
    return undefined;
  }
}

interface RecipientView {
  status: string;
  lastAnswer?: string;
}

async function recipientOf(apiPort: number, id: string): Promise<RecipientView | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${apiPort}/v1/messages/${encodeURIComponent(id)}`, {
      headers: { authorization: `Bearer ${API_TOKEN}`, accept: "application/json" },
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { recipients?: unknown };
    const first = Array.isArray(body.recipients)
      ? (body.recipients[0] as Record<string, unknown>)
      : undefined;
    if (!first || typeof first.status !== "string") return undefined;
    return {
      status: first.status,
      ...(typeof first.lastAnswer === "string" ? { lastAnswer: first.lastAnswer } : {}),
    };
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ one measurement

export interface AttackResult {
  name: string;
  what: string;
  capSeconds: number;
  /** False when the attack had not ended within the cap. */
  attackEnded: boolean;
  attackSeconds: number | null;
  /** The relay's SMTP answer to the attack input (for delivery attacks: to the customer's submission). */
  attackAnswer: string;
  /** Delivery attacks: the recipient's status and last answer once the relay tried it. */
  outcome?: string;
  /** Ordinary messages: send start to the relay's 250. */
  probes: {
    sent: number;
    answered250: number;
    refused: number;
    lost: number;
    maxLatency: string;
    maxLatencyMs: number | null;
  };
  /** The same messages: send start to their arrival at the sink (work queued behind the attack shows here). */
  delivery: { delivered: number; undelivered: number; maxLatency: string; maxLatencyMs: number | null };
  healthz: { asked: number; answered: number; maxGap: string; maxGapMs: number | null };
  relayLog: string;
}

const clip = (text: string, max = 240) => {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max)}… (${one.length} chars)` : one;
};

async function runAttack(
  attack: Attack,
  repo: string,
  baseDir: string,
  capMs: number,
  keepFiles: boolean,
): Promise<AttackResult> {
  let nextHopReply: string | undefined;
  const arrivals = new Map<string, number>();
  const sink: TimingSink = await startTimingSink({
    onArrival: (arrival) => {
      if (arrival.benchId) arrivals.set(arrival.benchId, arrival.at);
    },
  });
  const nextHop: TimingSink = await startTimingSink({
    onArrival: () => {},
    refuseRcpt: () => nextHopReply,
  });
  const relay = await startRelay(repo, join(baseDir, attack.name), sink.port, nextHop.port);
  try {
    const probeEnvelope = { from: "probe@ordinary.example", to: "probe@dest.attack.example" };
    const probeMessage = (n: number) =>
      customerMessage(
        [`X-Bench-Id: probe-${n}`, "Content-Type: text/plain; charset=us-ascii"],
        `Ordinary message ${n}.`,
      )
        .replace("news@customer.example", probeEnvelope.from)
        .replace("<newsletter@", `<probe-${n}@`);
    // Warm up: the relay takes and delivers an ordinary message (its copy worker and store are up).
    for (let tries = 0; ; tries++) {
      const warm = await sendOnce(relay.smtpPort, probeEnvelope, probeMessage(0), Date.now() + 60_000);
      if (warm.ok) break;
      if (tries >= 5) throw new Error(`the relay does not take an ordinary message: ${warm.final}`);
      await sleep(1_000);
    }
    for (const until = Date.now() + 60_000; !arrivals.has("probe-0") && Date.now() < until; )
      await sleep(100);
    nextHopReply = attack.nextHopRcpt?.();
    const input = attack.message();

    const start = Date.now();
    let windowEnd = start + capMs;
    let attackEnd: number | undefined;
    let attackAnswer = "";
    let outcome: string | undefined;
    const probes: Promise<{ n: number; started: number; dialog: Dialog }>[] = [];
    const health: Promise<number | undefined>[] = [];
    let stopped = false;
    const hardEnd = () => windowEnd + GRACE_MS;

    const probeLoop = (async () => {
      for (let n = 1; !stopped && Date.now() < windowEnd; n++) {
        const started = Date.now();
        probes.push(
          sendOnce(relay.smtpPort, probeEnvelope, probeMessage(n), started + capMs + GRACE_MS).then(
            (dialog) => ({
              n,
              started,
              dialog,
            }),
          ),
        );
        await sleep(PROBE_EVERY_MS);
      }
    })();
    const healthLoop = (async () => {
      while (!stopped && Date.now() < windowEnd) {
        health.push(healthz(relay.apiPort, Date.now() + capMs + GRACE_MS));
        await sleep(HEALTH_EVERY_MS);
      }
    })();

    // The ordinary traffic runs a moment before the attack starts, as it would.
    await sleep(500);
    const attackStart = Date.now();
    const attackEnvelope =
      attack.target === "feedback"
        ? { from: "reporter@isp.attack.example", to: LOOP_ADDRESS }
        : { from: "news@customer.example", to: "reader@dest.attack.example" };
    const submitted = await sendOnce(relay.smtpPort, attackEnvelope, input, start + capMs);
    attackAnswer = clip(submitted.final);
    if (attack.target === "feedback" || !submitted.ok) {
      if (submitted.final !== "timeout") attackEnd = submitted.finishedAt;
    } else {
      const id = /queued as (\S+)/.exec(submitted.final)?.[1];
      while (id && Date.now() < start + capMs) {
        const view = await recipientOf(relay.apiPort, id);
        if (view && view.status !== "queued") {
          outcome = clip(`${view.status}: ${view.lastAnswer ?? ""}`);
          attackEnd = Date.now();
          break;
        }
        await sleep(250);
      }
      outcome ??= id ? "not attempted within the cap" : "no message ID in the 250";
    }
    if (attackEnd !== undefined) windowEnd = Math.min(windowEnd, attackEnd + AFTER_MS);
    while (Date.now() < windowEnd) await sleep(100);
    stopped = true;
    await Promise.all([probeLoop, healthLoop]);

    const probeResults = await Promise.all(probes);
    const answered = await Promise.all(health);
    const limit = hardEnd();
    // Probes the relay refused are not waited for; those it never answered count as undelivered.
    const accepted = probeResults.filter((p) => p.dialog.ok || p.dialog.final === "timeout");
    while (Date.now() < limit && accepted.some((p) => !arrivals.has(`probe-${p.n}`))) await sleep(100);

    let maxLatencyMs = 0;
    let lost = 0;
    let lostFor = 0;
    let refused = 0;
    let answered250 = 0;
    for (const { started, dialog } of probeResults) {
      if (dialog.final === "timeout") {
        lost++;
        lostFor = Math.max(lostFor, Math.min(dialog.finishedAt, limit) - started);
        continue;
      }
      if (dialog.ok) answered250++;
      else refused++;
      maxLatencyMs = Math.max(maxLatencyMs, dialog.finishedAt - started);
    }
    const capS = capMs / 1000;
    const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    let maxDeliveryMs = 0;
    let undelivered = 0;
    let undeliveredFor = 0;
    for (const { n, started } of accepted) {
      const at = arrivals.get(`probe-${n}`);
      if (at === undefined) {
        undelivered++;
        undeliveredFor = Math.max(undeliveredFor, limit - started);
      } else maxDeliveryMs = Math.max(maxDeliveryMs, at - started);
    }
    const deliveryLatency =
      undelivered > 0
        ? `> ${undeliveredFor >= capMs ? `cap (${capS} s)` : seconds(undeliveredFor)}`
        : maxDeliveryMs >= capMs
          ? `> cap (${capS} s)`
          : seconds(maxDeliveryMs);
    const maxLatency =
      lost > 0
        ? `> ${lostFor >= capMs ? `cap (${capS} s)` : seconds(lostFor)}`
        : maxLatencyMs >= capMs
          ? `> cap (${capS} s)`
          : seconds(maxLatencyMs);

    // Gaps between /healthz answers from the attack's start; an unanswered tail counts up to the end.
    const times = answered
      .filter((t): t is number => t !== undefined && t >= attackStart)
      .sort((a, b) => a - b);
    let previous = attackStart;
    let maxGapMs = 0;
    for (const at of times) {
      maxGapMs = Math.max(maxGapMs, at - previous);
      previous = at;
    }
    const unanswered = answered.some((t) => t === undefined);
    const tailEnd = unanswered ? limit : windowEnd;
    if (previous < tailEnd) maxGapMs = Math.max(maxGapMs, tailEnd - previous);
    const maxGap = maxGapMs >= capMs ? `> cap (${capS} s)` : seconds(maxGapMs);

    return {
      name: attack.name,
      what: attack.what,
      capSeconds: capS,
      attackEnded: attackEnd !== undefined,
      attackSeconds: attackEnd !== undefined ? Number(((attackEnd - attackStart) / 1000).toFixed(2)) : null,
      attackAnswer,
      ...(outcome !== undefined ? { outcome } : {}),
      probes: {
        sent: probeResults.length,
        answered250,
        refused,
        lost,
        maxLatency,
        maxLatencyMs: lost > 0 ? null : maxLatencyMs,
      },
      delivery: {
        delivered: accepted.length - undelivered,
        undelivered,
        maxLatency: deliveryLatency,
        maxLatencyMs: undelivered > 0 ? null : maxDeliveryMs,
      },
      healthz: {
        asked: answered.length,
        answered: times.length,
        maxGap,
        maxGapMs: maxGapMs >= capMs ? null : maxGapMs,
      },
      relayLog: keepFiles ? relay.logFile : "(removed; --keep keeps it)",
    };
  } finally {
    await relay.stop();
    await Promise.all([sink.close(), nextHop.close()]);
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repo: { type: "string" },
      out: { type: "string" },
      cap: { type: "string", default: "60" },
      only: { type: "string" },
      keep: { type: "boolean", default: false },
    },
  });
  if (!values.repo) {
    console.error(
      "usage: npx tsx bench/attacks.ts --repo PATH [--out FILE.json] [--cap SECONDS] [--only name,name] [--keep]",
    );
    console.error(`attacks: ${ATTACKS.map((a) => a.name).join(", ")}`);
    process.exit(2);
  }
  const repo = resolve(values.repo);
  const cap = Number(values.cap);
  if (!Number.isFinite(cap) || cap < 5) throw new Error("--cap is a number of seconds, at least 5");
  await readFile(join(repo, "bin/relayfleet.ts")).catch(() => {
    throw new Error(`${repo} has no bin/relayfleet.ts: not a relayfleet checkout`);
  });
  const wanted = values.only?.split(",").map((name) => name.trim());
  const unknown = wanted?.filter((name) => !ATTACKS.some((a) => a.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown attack(s): ${unknown.join(", ")}`);
  const chosen = ATTACKS.filter((a) => !wanted || wanted.includes(a.name));

  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo, encoding: "utf8" }).trim();
  } catch {
    // not a git checkout: the path says enough
  }
  const baseDir = await mkdtemp(join(tmpdir(), "relayfleet-attacks-"));
  console.log(
    `relay: ${repo} (${commit}); cap ${cap} s; load average ${loadAverage()} on ${availableParallelism()} cores`,
  );
  const results: AttackResult[] = [];
  for (const attack of chosen) {
    console.log(`\n== ${attack.name}: ${attack.what}`);
    const result = await runAttack(attack, repo, baseDir, cap * 1000, values.keep === true);
    results.push(result);
    console.log(
      [
        `   attack ${result.attackEnded ? `ended after ${result.attackSeconds} s` : `had not ended after the cap (${cap} s)`}`,
        `   relay answered the input: ${result.attackAnswer}`,
        ...(result.outcome ? [`   recipient: ${result.outcome}`] : []),
        `   ordinary messages: max latency ${result.probes.maxLatency} (${result.probes.sent} sent, ${result.probes.answered250} got 250, ${result.probes.refused} refused, ${result.probes.lost} unanswered)`,
        `   ...delivered to the sink: max latency ${result.delivery.maxLatency} (${result.delivery.delivered} delivered, ${result.delivery.undelivered} not)`,
        `   /healthz: max gap ${result.healthz.maxGap} (${result.healthz.asked} asked, ${result.healthz.answered} answered after the attack began)`,
      ].join("\n"),
    );
  }
  const report = {
    repo,
    commit,
    at: new Date().toISOString(),
    capSeconds: cap,
    cores: availableParallelism(),
    loadAverageAtEnd: loadAverage(),
    attacks: results,
  };
  if (values.out) {
    await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwrote ${values.out}`);
  }
  if (!values.keep) await rm(baseDir, { recursive: true, force: true });
  else console.log(`relay configs and logs kept under ${baseDir}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
