/**
 * What the fault tests share: a load of tagged messages over SMTP that
 * records which got a 250 (and under which queue id) and what the others
 * were answered, the relay's config, and its API and metrics over HTTP.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createTransport } from "nodemailer";
import type { ReceivedMessage } from "../support/smtp-peer.js";

/** A relay starting on a machine shared with other test runs can take a while (tsx compiles on the fly). */
export const SLOW_START = { startTimeoutMs: 60_000 } as const;

export const ACCOUNT = { name: "shop", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@shop.test"] };

/** A relay config whose default route is an SMTP peer on loopback. */
export function relayConfig(sinkPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hostname: "relay.test",
    accounts: [ACCOUNT],
    routes: { default: { senders: [{ name: "sink", host: "127.0.0.1", port: sinkPort, tls: "none" }] } },
    ...extra,
  };
}

export interface LoadResult {
  /** tag → queue id, for every message answered 250. */
  acked: Map<string, string>;
  /** Replies other than 250, by their first three characters (e.g. "451"), and how many. */
  refusedBy: Map<string, number>;
  /** Failures with no SMTP reply (connection refused or dropped). */
  unanswered: number;
  /** Every answer in the order they came: the final reply line (or the error's text), and when. */
  answers: { tag: string; at: number; reply: string }[];
}

/**
 * Sends `count` messages tagged `${prefix}-${i}` (in the Subject) over a pool of connections,
 * `pace` ms apart per connection slot when set, and records every answer.
 */
export async function sendLoad(
  port: number,
  count: number,
  options: { prefix: string; connections?: number; paceMs?: number; bodyBytes?: number },
): Promise<LoadResult> {
  const transport = createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: options.connections ?? 8,
    maxMessages: Number.POSITIVE_INFINITY,
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  });
  const result: LoadResult = { acked: new Map(), refusedBy: new Map(), unanswered: 0, answers: [] };
  const body = "x".repeat(options.bodyBytes ?? 1500);
  const one = async (i: number) => {
    const tag = `${options.prefix}-${i}`;
    try {
      const info = await transport.sendMail({
        envelope: { from: "app@shop.test", to: [`r${i}@isp.test`] },
        raw: `From: app@shop.test\r\nTo: r${i}@isp.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@shop.test>\r\n\r\n${body}\r\n`,
      });
      result.acked.set(tag, info.response.split(" ").pop() as string);
      result.answers.push({ tag, at: Date.now(), reply: info.response });
    } catch (error) {
      const failure = error as { responseCode?: number; response?: string; message?: string };
      const code = failure.responseCode;
      result.answers.push({ tag, at: Date.now(), reply: failure.response ?? `no reply: ${failure.message}` });
      if (code === undefined) result.unanswered++;
      else result.refusedBy.set(String(code), (result.refusedBy.get(String(code)) ?? 0) + 1);
    }
  };
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    pending.push(one(i));
    if (options.paceMs) await new Promise((resolve) => setTimeout(resolve, options.paceMs));
  }
  await Promise.all(pending);
  transport.close();
  return result;
}

/** The tag in a message's Subject (sendLoad's, or a DSN quoting it). */
export function tagsIn(raw: Buffer, prefix: string): string[] {
  const text = raw.toString("latin1");
  return [...new Set(text.match(new RegExp(`\\b${prefix}-\\d+\\b`, "g")) ?? [])];
}

export interface Outcome {
  /** Acknowledged tags delivered to the sink at least once. */
  delivered: number;
  /** Deliveries to the sink beyond the first, per acknowledged tag, summed. */
  duplicates: number;
  /** Acknowledged tags neither delivered nor bounced with a notice. */
  lost: string[];
}

/**
 * What became of every acknowledged message: delivered to the sink (the
 * message itself, addressed to its recipient), or bounced with a notice (a
 * DSN to the sender naming it), never neither.
 */
export function outcome(
  acked: Map<string, string>,
  received: readonly ReceivedMessage[],
  prefix: string,
): Outcome {
  const copies = new Map<string, number>();
  const noticed = new Set<string>();
  for (const message of received) {
    const isNotice = message.to.includes("app@shop.test");
    for (const tag of tagsIn(message.raw, prefix)) {
      if (isNotice) noticed.add(tag);
      else copies.set(tag, (copies.get(tag) ?? 0) + 1);
    }
  }
  let delivered = 0;
  let duplicates = 0;
  const lost: string[] = [];
  for (const tag of acked.keys()) {
    const n = copies.get(tag) ?? 0;
    if (n > 0) delivered++;
    duplicates += Math.max(0, n - 1);
    if (n === 0 && !noticed.has(tag)) lost.push(tag);
  }
  return { delivered, duplicates, lost };
}

/** The relay's API token (the relay writes it under its data dir on first start). */
export async function apiToken(dir: string): Promise<string> {
  return (await readFile(join(dir, "data", "api-token"), "utf8")).trim();
}

export async function callApi(
  port: number,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

/** One sample of a metric from the relay's /metrics (the sum over label sets matching `labels`). */
export async function metricValue(
  port: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}
