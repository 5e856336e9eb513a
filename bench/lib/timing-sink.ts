/**
 * A measuring SMTP sink on raw sockets (cheaper than smtp-server, and it sees
 * the client's source address): it reports each message's arrival time, the
 * connecting IP, its recipients, its size and the X-Bench-Id header the load
 * generator put in. `refuseRcpt` lets a scenario play an ISP that starts
 * answering "blocked" to one source IP.
 */
import { createServer, type Socket } from "node:net";

export interface Arrival {
  benchId: string | undefined;
  at: number;
  remoteAddress: string;
  recipients: string[];
  bytes: number;
}

export interface RcptAttempt {
  at: number;
  remoteAddress: string;
  recipient: string;
  refused: boolean;
}

export interface SinkOptions {
  onArrival: (arrival: Arrival) => void;
  /** An answer such as "554 5.7.1 ... blocked" refuses the recipient; undefined accepts it. */
  refuseRcpt?: (remoteAddress: string, recipient: string) => string | undefined;
  onRcpt?: (attempt: RcptAttempt) => void;
}

export interface TimingSink {
  port: number;
  close(): Promise<void>;
}

const TERMINATOR = Buffer.from("\r\n.\r\n");
const HEAD_BYTES = 16 * 1024;

function serve(socket: Socket, options: SinkOptions): void {
  const remoteAddress = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  let inData = false;
  let lineBuffer = "";
  let recipients: string[] = [];
  let head: Buffer[] = [];
  let headBytes = 0;
  let bytes = 0;
  let tail = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.on("error", () => socket.destroy());
  socket.write("220 sink.bench ESMTP\r\n");

  const endMessage = () => {
    const text = Buffer.concat(head).toString("latin1");
    const benchId = /^X-Bench-Id: *(\S+)/im.exec(text)?.[1];
    options.onArrival({ benchId, at: Date.now(), remoteAddress, recipients, bytes });
    recipients = [];
    socket.write("250 2.0.0 Ok: queued\r\n");
  };

  const onCommand = (line: string): void => {
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === "EHLO") socket.write("250-sink.bench\r\n250-8BITMIME\r\n250 SIZE 1073741824\r\n");
    else if (verb === "HELO" || verb === "NOOP") socket.write("250 Ok\r\n");
    else if (verb === "MAIL" || verb === "RSET") {
      recipients = [];
      socket.write("250 2.1.0 Ok\r\n");
    } else if (verb === "RCPT") {
      const recipient = /<([^>]*)>/.exec(line)?.[1] ?? "";
      const refusal = options.refuseRcpt?.(remoteAddress, recipient);
      options.onRcpt?.({ at: Date.now(), remoteAddress, recipient, refused: refusal !== undefined });
      if (refusal) socket.write(`${refusal}\r\n`);
      else {
        recipients.push(recipient);
        socket.write("250 2.1.5 Ok\r\n");
      }
    } else if (verb === "DATA") {
      if (recipients.length === 0) socket.write("554 5.5.1 Error: no valid recipients\r\n");
      else {
        inData = true;
        head = [];
        headBytes = 0;
        bytes = 0;
        tail = Buffer.from("\r\n");
        socket.write("354 End data with <CR><LF>.<CR><LF>\r\n");
      }
    } else if (verb === "QUIT") socket.end("221 2.0.0 Bye\r\n");
    else socket.write("502 5.5.2 Error: command not recognized\r\n");
  };

  const onBytes = (chunk: Buffer): void => {
    let rest = chunk;
    while (rest.length > 0) {
      if (!inData) {
        const text = rest.toString("latin1");
        const newline = text.indexOf("\n");
        if (newline === -1) {
          lineBuffer += text;
          return;
        }
        const line = (lineBuffer + text.slice(0, newline)).replace(/\r$/, "");
        lineBuffer = "";
        rest = rest.subarray(newline + 1);
        onCommand(line);
        continue;
      }
      // The terminator may straddle chunks: search the previous 4 bytes and this chunk together.
      const window = Buffer.concat([tail, rest]);
      const found = window.indexOf(TERMINATOR);
      const consumed = found === -1 ? rest.length : found + TERMINATOR.length - tail.length;
      const body = rest.subarray(0, Math.max(0, found === -1 ? rest.length : found - tail.length));
      bytes += body.length;
      if (headBytes < HEAD_BYTES) {
        head.push(body.subarray(0, HEAD_BYTES - headBytes));
        headBytes += Math.min(body.length, HEAD_BYTES - headBytes);
      }
      if (found === -1) {
        tail = window.subarray(Math.max(0, window.length - 4));
        return;
      }
      inData = false;
      rest = rest.subarray(consumed);
      endMessage();
    }
  };
  socket.on("data", onBytes);
}

export async function startTimingSink(options: SinkOptions, port = 0): Promise<TimingSink> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    serve(socket, options);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", 1024, resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
