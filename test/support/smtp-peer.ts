/**
 * An SMTP peer on loopback that plays a recipient's ISP (or a smart host) in
 * tests: it records every message it accepts, and can be told to accept,
 * defer (4xx), reject (5xx) or answer "blocked" — by default, for chosen
 * client source addresses (127.0.0.2, 127.0.0.3, ...), or for chosen recipients.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";

export type PeerBehaviour = "accept" | "defer" | "reject" | "blocked";

/** Where a non-accepting behaviour answers. ISPs block at connect or at RCPT; both happen. */
export type PeerStage = "connect" | "rcpt" | "data";

export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  clientIp: string;
  heloName: string;
  receivedAt: number;
}

export interface SmtpPeerOptions {
  host?: string;
  port?: number;
  /** Banner name and the name in "blocked" answers. */
  name?: string;
  stage?: PeerStage;
  /** Require AUTH PLAIN/LOGIN with these credentials (a smart host). */
  auth?: { user: string; pass: string };
  /** Extra smtp-server options (e.g. size). */
  serverOptions?: Partial<SMTPServerOptions>;
  /** Waits this long after a message's data before answering it (a slow ISP: deliveries stay in flight). */
  answerDelayMs?: number;
}

export interface SmtpPeer {
  host: string;
  port: number;
  received: ReceivedMessage[];
  /** Behaviour for everyone not named by forSource/forRecipient. */
  setDefault(behaviour: PeerBehaviour): void;
  forSource(clientIp: string, behaviour: PeerBehaviour): void;
  forRecipient(address: string, behaviour: PeerBehaviour): void;
  /** Resolves once `count` messages in all have been received (or rejects after timeoutMs). */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Connections seen, by client IP. */
  connections: Map<string, number>;
  stop(): Promise<void>;
}

class PeerAnswer extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

function answerFor(behaviour: PeerBehaviour, name: string, clientIp: string): PeerAnswer | undefined {
  switch (behaviour) {
    case "accept":
      return undefined;
    case "defer":
      return new PeerAnswer(451, "4.7.1 Temporary local problem, try again later");
    case "reject":
      return new PeerAnswer(550, "5.1.1 Recipient address rejected: User unknown");
    case "blocked":
      return new PeerAnswer(
        554,
        `5.7.1 Service unavailable; Client host [${clientIp}] blocked using ${name} reputation list`,
      );
  }
}

function normalizeIp(ip: string): string {
  return ip.replace(/^::ffff:/i, "");
}

export async function startSmtpPeer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const name = options.name ?? "isp.test";
  const stage = options.stage ?? "rcpt";
  const bySource = new Map<string, PeerBehaviour>();
  const byRecipient = new Map<string, PeerBehaviour>();
  let defaultBehaviour: PeerBehaviour = "accept";
  const received: ReceivedMessage[] = [];
  const connections = new Map<string, number>();
  const waiters = new Set<() => void>();

  const behaviourFor = (session: SMTPServerSession, recipient?: string): PeerBehaviour => {
    const byAddress = recipient ? byRecipient.get(recipient.toLowerCase()) : undefined;
    return byAddress ?? bySource.get(normalizeIp(session.remoteAddress)) ?? defaultBehaviour;
  };

  const server = new SMTPServer({
    name,
    banner: `${name} ESMTP test peer`,
    disabledCommands: ["STARTTLS", ...(options.auth ? [] : ["AUTH"])],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    logger: false,
    size: 200 * 1024 * 1024,
    ...options.serverOptions,
    onConnect(session, callback) {
      const ip = normalizeIp(session.remoteAddress);
      connections.set(ip, (connections.get(ip) ?? 0) + 1);
      callback(stage === "connect" ? answerFor(behaviourFor(session), name, ip) : undefined);
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else callback(new PeerAnswer(535, "5.7.8 Authentication credentials invalid"));
    },
    onRcptTo(address, session, callback) {
      const ip = normalizeIp(session.remoteAddress);
      callback(stage === "rcpt" ? answerFor(behaviourFor(session, address.address), name, ip) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const ip = normalizeIp(session.remoteAddress);
        const to = session.envelope.rcptTo.map((r) => r.address);
        if (stage === "data") {
          const answer = answerFor(behaviourFor(session, to[0]), name, ip);
          if (answer) return callback(answer);
        }
        const from = session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address;
        const accept = () => {
          received.push({
            from,
            to,
            raw: Buffer.concat(chunks),
            clientIp: ip,
            heloName: session.hostNameAppearsAs,
            receivedAt: Date.now(),
          });
          for (const wake of waiters) wake();
          callback(null, `2.0.0 Ok: queued as peer-${received.length}`);
        };
        if (options.answerDelayMs) setTimeout(accept, options.answerDelayMs);
        else accept();
      });
    },
  });
  server.on("error", () => {
    // Client resets and the like are part of the tests; the peer keeps serving.
  });

  server.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  await once(server.server, "listening");
  const address = server.server.address() as AddressInfo;

  return {
    host: address.address,
    port: address.port,
    received,
    connections,
    setDefault(behaviour) {
      defaultBehaviour = behaviour;
    },
    forSource(clientIp, behaviour) {
      bySource.set(clientIp, behaviour);
    },
    forRecipient(address, behaviour) {
      byRecipient.set(address.toLowerCase(), behaviour);
    },
    waitForMessages(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (received.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(received.slice());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`SMTP peer ${name}: ${received.length} of ${count} messages after ${timeoutMs} ms`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
