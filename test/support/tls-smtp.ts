/**
 * An SMTP client for TLS tests: plain or implicit TLS, STARTTLS on demand,
 * and the certificate the server presented, so tests can check which
 * certificate a session got and that the chain verified.
 */
import { connect as connectPlain, type Socket } from "node:net";
import {
  type ConnectionOptions,
  connect as connectTls,
  type PeerCertificate,
  type TLSSocket,
} from "node:tls";

export interface SmtpLineSession {
  /** Waits for the next complete reply (multi-line replies joined with "\n"). */
  reply(timeoutMs?: number): Promise<string>;
  command(line: string, timeoutMs?: number): Promise<string>;
  send(data: string): void;
  /** Sends STARTTLS, expects 220 and upgrades; rejects if the handshake fails (e.g. an unverified chain). */
  startTls(options: ConnectionOptions): Promise<TLSSocket>;
  /** The server's certificate, once the session is TLS. */
  peerCertificate(): PeerCertificate | undefined;
  close(): void;
}

function handshake(options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connectTls(options, () => resolve(socket));
    socket.once("error", reject);
  });
}

export async function smtpLineSession(
  port: number,
  options: { host?: string; implicitTls?: ConnectionOptions } = {},
): Promise<SmtpLineSession> {
  const host = options.host ?? "127.0.0.1";
  let socket: Socket | TLSSocket = options.implicitTls
    ? await handshake({ host, port, ...options.implicitTls })
    : await new Promise<Socket>((resolve, reject) => {
        const plain = connectPlain({ host, port }, () => resolve(plain));
        plain.once("error", reject);
      });
  let buffer = "";
  let current: string[] = [];
  const replies: string[] = [];
  let waiter: (() => void) | undefined;
  let closed = false;
  const onData = (data: Buffer) => {
    buffer += data.toString("latin1");
    let newline = buffer.indexOf("\r\n");
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 2);
      current.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        replies.push(current.join("\n"));
        current = [];
        waiter?.();
      }
      newline = buffer.indexOf("\r\n");
    }
  };
  const onClose = () => {
    closed = true;
    waiter?.();
  };
  const attach = (next: Socket | TLSSocket) => {
    next.on("data", onData);
    next.once("close", onClose);
    next.on("error", () => undefined);
  };
  attach(socket);
  const reply = (timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = undefined;
        reject(new Error(`no SMTP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = () => {
        if (replies.length > 0) {
          clearTimeout(timer);
          waiter = undefined;
          resolve(replies.shift() as string);
        } else if (closed) {
          clearTimeout(timer);
          waiter = undefined;
          reject(new Error("connection closed without a reply"));
        }
      };
      waiter = take;
      take();
    });
  const send = (data: string) => {
    socket.write(Buffer.from(data, "latin1"));
  };
  return {
    reply,
    send,
    command(line, timeoutMs) {
      send(`${line}\r\n`);
      return reply(timeoutMs);
    },
    async startTls(tlsOptions) {
      send("STARTTLS\r\n");
      const answer = await reply();
      if (!answer.startsWith("220 ")) throw new Error(`STARTTLS refused: ${answer}`);
      const plain = socket;
      plain.removeListener("data", onData);
      plain.removeListener("close", onClose);
      const secure = await handshake({ socket: plain, ...tlsOptions });
      socket = secure;
      attach(secure);
      return secure;
    },
    peerCertificate() {
      return "getPeerCertificate" in socket ? (socket as TLSSocket).getPeerCertificate() : undefined;
    },
    close() {
      socket.destroy();
    },
  };
}
