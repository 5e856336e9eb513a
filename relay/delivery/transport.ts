/**
 * Outbound SMTP: one nodemailer connection pool per way of connecting (next-hop
 * host and port, source address, TLS policy, AUTH credentials), reused across
 * messages and shared by every sender and account that connects the same way:
 * fairness and each sender's maxConnections come from the scheduler
 * (relay/scheduler), not from separate sockets. nodemailer pipelines MAIL FROM,
 * RCPT TO and DATA in one write when the next hop offers PIPELINING.
 *
 * We call the pool's `send` with the envelope ourselves rather than going
 * through `Mailer.sendMail`: the Mailer re-parses envelope addresses with
 * addressparser, and a recipient such as `"a@evil x"@allowed.example` must
 * reach RCPT TO exactly as validated. The message
 * bytes are never looked at by nodemailer, so no header can add a recipient.
 */
import type { Readable } from "node:stream";
import SMTPPool from "nodemailer/lib/smtp-pool/index.js";
import type { Sender } from "../routes/schema.js";
import type { AnswerStage, RemoteAnswer } from "./classify.js";

export interface Timeouts {
  connectionMs: number;
  greetingMs: number;
  socketMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectionMs: 30_000, greetingMs: 30_000, socketMs: 120_000 };

export interface SendRequest {
  sender: Sender;
  /** Next hop: the smart host, or one MX host. */
  host: string;
  port: number;
  from: string;
  to: string;
  /** Called for each try: the pool may retry on a fresh connection and needs a fresh stream. */
  message: () => Readable;
  /** For nodemailer's own bookkeeping only. */
  id: string;
}

export interface SendResult {
  answer: RemoteAnswer;
}

/** The part of nodemailer's pool `send` contract we use. */
interface PoolMail {
  data: Record<string, never>;
  message: {
    getEnvelope(): { from: string; to: string[] };
    messageId(): string;
    getHeader(name: string): string;
    createReadStream(): Readable;
  };
}

interface PoolError extends Error {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
}

interface PoolEntry {
  pool: SMTPPool;
  lastUsed: number;
  inUse: number;
  /** Each sender config that sent through this pool, by its JSON. */
  senders: Map<string, SenderSeen>;
}

interface SenderSeen {
  maxConnections: number;
  /** When a message of this sender last started or finished here. */
  lastUsed: number;
}

/** What a connection is made of: senders that agree on all of it can share one. */
export function connectionKey(sender: Sender, host: string, port: number): string {
  return JSON.stringify([
    host,
    port,
    sender.localAddress ?? null,
    sender.tls,
    sender.requireTls,
    sender.verifyCertificates,
    sender.auth ? [sender.auth.user, sender.auth.pass] : null,
  ]);
}

/** Maps nodemailer's `command` (where the error happened) to our stage names. */
export function stageOf(command: string | undefined, code: string | undefined): AnswerStage {
  switch (command) {
    case "MAIL FROM":
      return "mail";
    case "RCPT TO":
      return "rcpt";
    case "DATA":
    case "DATA STREAM":
      return "data";
    case "API":
      return "local";
    case undefined:
      return code === "EDNS" || code === "ESTREAM" ? "local" : "connect";
    default:
      // CONN, EHLO, HELO, LHLO, STARTTLS, AUTH ...
      return "connect";
  }
}

export function answerFromError(error: PoolError): RemoteAnswer {
  const stage = stageOf(error.command, error.code);
  const text = (error.response ?? error.message).replace(/\s+/g, " ").trim();
  return { ...(error.responseCode ? { responseCode: error.responseCode } : {}), text, stage };
}

export class TransportPool {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly options: {
      /** EHLO name. */
      hostname: string;
      timeouts?: Partial<Timeouts>;
      /** Pools unused this long are closed (direct-to-MX opens one per destination host). */
      idleMs?: number;
      now?: () => number;
    },
  ) {
    const idleMs = options.idleMs ?? 60_000;
    this.sweeper = setInterval(() => this.sweep(idleMs), Math.min(idleMs, 30_000));
    this.sweeper.unref();
  }

  send(request: SendRequest): Promise<SendResult> {
    const { entry, seen } = this.poolFor(request);
    entry.inUse++;
    const mail: PoolMail = {
      data: {},
      message: {
        getEnvelope: () => ({ from: request.from, to: [request.to] }),
        messageId: () => request.id,
        getHeader: () => request.id,
        createReadStream: request.message,
      },
    };
    return new Promise<SendResult>((resolve) => {
      const done = (error: PoolError | null, info?: { response?: string }) => {
        entry.inUse--;
        entry.lastUsed = this.now();
        seen.lastUsed = entry.lastUsed;
        if (error) return resolve({ answer: answerFromError(error) });
        const response = info?.response ?? "250 OK";
        const code = Number(/^\d{3}/.exec(response)?.[0] ?? 250);
        resolve({ answer: { responseCode: code, text: response, stage: "data" } });
      };
      // nodemailer's declared parameter type is its full MailMessage; we give it only what the pool reads.
      entry.pool.send(
        mail as unknown as Parameters<SMTPPool["send"]>[0],
        done as Parameters<SMTPPool["send"]>[1],
      );
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const entry of this.pools.values()) entry.pool.close();
    this.pools.clear();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private poolFor(request: SendRequest): { entry: PoolEntry; seen: SenderSeen } {
    const { sender } = request;
    // A changed connection setting in a route table gets fresh connections.
    const key = connectionKey(sender, request.host, request.port);
    let entry = this.pools.get(key);
    if (!entry) {
      const timeouts = { ...DEFAULT_TIMEOUTS, ...this.options.timeouts };
      const pool = new SMTPPool({
        host: request.host,
        port: request.port,
        secure: sender.tls === "tls",
        ignoreTLS: sender.tls === "none",
        requireTLS: sender.requireTls,
        tls: { rejectUnauthorized: sender.verifyCertificates, servername: request.host },
        ...(sender.localAddress ? { localAddress: sender.localAddress } : {}),
        ...(sender.auth ? { auth: { user: sender.auth.user, pass: sender.auth.pass } } : {}),
        name: this.options.hostname,
        // Set from the senders using the pool (setPoolSize).
        maxConnections: sender.maxConnections,
        maxMessages: 1000,
        connectionTimeout: timeouts.connectionMs,
        greetingTimeout: timeouts.greetingMs,
        socketTimeout: timeouts.socketMs,
        logger: false,
        debug: false,
      });
      pool.on("error", () => {
        // Errors reach the callback of the message that met them; the pool event is noise.
      });
      entry = { pool, lastUsed: this.now(), inUse: 0, senders: new Map() };
      this.pools.set(key, entry);
    }
    const senderKey = JSON.stringify(sender);
    let seen = entry.senders.get(senderKey);
    if (seen) seen.lastUsed = this.now();
    else {
      seen = { maxConnections: sender.maxConnections, lastUsed: this.now() };
      entry.senders.set(senderKey, seen);
      setPoolSize(entry);
    }
    return { entry, seen };
  }

  private sweep(idleMs: number): void {
    const now = this.now();
    for (const [key, entry] of this.pools) {
      if (entry.inUse === 0 && now - entry.lastUsed > idleMs) {
        entry.pool.close();
        this.pools.delete(key);
        continue;
      }
      let removed = false;
      for (const [senderKey, seen] of entry.senders) {
        if (now - seen.lastUsed > idleMs) removed = entry.senders.delete(senderKey);
      }
      if (removed) setPoolSize(entry);
    }
  }
}

/**
 * Room for every sender sharing the pool at its own maxConnections at once, as
 * with a pool each: the scheduler never starts more than that through a sender.
 */
function setPoolSize(entry: PoolEntry): void {
  let size = 0;
  for (const seen of entry.senders.values()) size += seen.maxConnections;
  entry.pool.options.maxConnections = Math.max(1, size);
}
