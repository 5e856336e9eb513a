/**
 * A raw SMTP client for hostile-input tests: sends exactly the bytes given and
 * reads replies line by line, so tests can do what well-behaved libraries never do.
 */
import { connect, type Socket } from "node:net";

export interface RawSmtp {
  socket: Socket;
  /** Waits for the next complete reply (multi-line replies joined), e.g. "250 2.0.0 Ok". */
  reply(timeoutMs?: number): Promise<string>;
  send(data: string | Buffer): void;
  /** Sends a command line (CRLF added) and waits for its reply. */
  command(line: string, timeoutMs?: number): Promise<string>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export async function rawSmtp(
  port: number,
  options: { host?: string; localAddress?: string } = {},
): Promise<RawSmtp> {
  const socket = connect({
    port,
    host: options.host ?? "127.0.0.1",
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let buffer = "";
  const replies: string[] = [];
  const waiters: (() => void)[] = [];
  let current: string[] = [];
  socket.on("data", (data: Buffer) => {
    buffer += data.toString("latin1");
    let newline = buffer.indexOf("\r\n");
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 2);
      current.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        replies.push(current.join("\n"));
        current = [];
        waiters.shift()?.();
      }
      newline = buffer.indexOf("\r\n");
    }
  });
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const reply = (timeoutMs = 5000) =>
    new Promise<string>((resolve, reject) => {
      const take = () => {
        clearTimeout(timer);
        resolve(replies.shift() as string);
      };
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms`)), timeoutMs);
      if (replies.length > 0) take();
      else {
        waiters.push(take);
        void closed.then(() => {
          if (replies.length === 0) {
            clearTimeout(timer);
            reject(new Error("connection closed without a reply"));
          }
        });
      }
    });
  const send = (data: string | Buffer) => {
    socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  };
  return {
    socket,
    reply,
    send,
    command(line, timeoutMs) {
      send(`${line}\r\n`);
      return reply(timeoutMs);
    },
    closed,
    close: () => socket.destroy(),
  };
}
