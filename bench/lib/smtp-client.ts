/**
 * A lean SMTP client for the load generator: one transaction at a time per
 * connection, no MIME building (bodies are ready-made bytes), so the client
 * costs little CPU on a machine it shares with the relay. It records when the
 * final "." left (the end of DATA latency is measured from) and when the 250
 * came back. A pool spreads paced sends over N connections.
 */
import { connect, type Socket } from "node:net";

export interface OutgoingMessage {
  from: string;
  to: string[];
  /** CRLF lines, no line starting with "." (the generators never make one), ending in CRLF. */
  body: Buffer | AsyncIterable<Buffer>;
}

export interface SendResult {
  /** Date.now() when the terminating "." was written. */
  endOfData: number;
  /** Date.now() when the relay's final answer arrived. */
  accepted: number;
}

export class SmtpSession {
  private buffered = "";
  private readonly waiting: Array<(reply: string) => void> = [];
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      this.failure = error;
      for (const resolve of this.waiting.splice(0)) resolve(`421 ${error.message}`);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection closed")));
  }

  static async open(port: number, host = "127.0.0.1"): Promise<SmtpSession> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const session = new SmtpSession(socket);
    await session.expect(await session.reply(), 220);
    await session.expect(await session.command("EHLO loadgen.bench"), 250);
    return session;
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    if (this.failure) throw this.failure;
    await this.expect(await this.command(`MAIL FROM:<${message.from}>`), 250);
    for (const rcpt of message.to) await this.expect(await this.command(`RCPT TO:<${rcpt}>`), 250);
    await this.expect(await this.command("DATA"), 354);
    const answer = this.reply();
    if (Buffer.isBuffer(message.body)) this.socket.write(message.body);
    else {
      for await (const chunk of message.body) {
        if (!this.socket.write(chunk)) await new Promise((resolve) => this.socket.once("drain", resolve));
      }
    }
    this.socket.write(".\r\n");
    const endOfData = Date.now();
    await this.expect(await answer, 250);
    return { endOfData, accepted: Date.now() };
  }

  close(): void {
    if (this.failure) return;
    this.socket.end("QUIT\r\n");
  }

  private command(line: string): Promise<string> {
    const answer = this.reply();
    this.socket.write(`${line}\r\n`);
    return answer;
  }

  private reply(): Promise<string> {
    if (this.failure) return Promise.resolve(`421 ${this.failure.message}`);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private async expect(reply: string, code: number): Promise<void> {
    if (!reply.startsWith(String(code))) throw new Error(`expected ${code}, got: ${reply.trim()}`);
  }

  private onData(chunk: Buffer): void {
    this.buffered += chunk.toString("latin1");
    for (;;) {
      // A reply ends at a line whose code is followed by a space (or nothing).
      const end = /^\d{3}(?: [^\r\n]*)?\r?\n/m.exec(this.buffered);
      if (!end) return;
      const stop = end.index + end[0].length;
      const reply = this.buffered.slice(0, stop);
      this.buffered = this.buffered.slice(stop);
      this.waiting.shift()?.(reply);
    }
  }
}

/** N sessions; send() takes the first idle one, or queues until one is idle. */
export class SmtpPool {
  private idle: SmtpSession[] = [];
  private readonly queue: Array<(session: SmtpSession) => void> = [];
  private sessions: SmtpSession[] = [];

  constructor(
    private readonly port: number,
    private readonly size: number,
  ) {}

  async open(): Promise<void> {
    this.sessions = await Promise.all(Array.from({ length: this.size }, () => SmtpSession.open(this.port)));
    this.idle = [...this.sessions];
  }

  /** Messages waiting for a connection (the client's own backlog). */
  get waiting(): number {
    return this.queue.length;
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const session =
      this.idle.pop() ?? (await new Promise<SmtpSession>((resolve) => this.queue.push(resolve)));
    try {
      return await session.send(message);
    } finally {
      const next = this.queue.shift();
      if (next) next(session);
      else this.idle.push(session);
    }
  }

  close(): void {
    for (const session of this.sessions) session.close();
  }
}

/**
 * Sends `count` messages at `rate`/s over the pool (message i is due at
 * start + i/rate; all due messages go out on each tick). Answers the results
 * in send order; failures are counted, not thrown, so one refusal does not
 * stop a benchmark.
 */
export async function sendPaced(
  pool: SmtpPool,
  count: number,
  rate: number,
  make: (index: number) => OutgoingMessage,
  onResult?: (index: number, result: SendResult) => void,
): Promise<{ seconds: number; failed: number; errors: string[] }> {
  const started = performance.now();
  const pending: Promise<void>[] = [];
  let failed = 0;
  const errors: string[] = [];
  let index = 0;
  while (index < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
    for (; index < due; index++) {
      const i = index;
      pending.push(
        pool.send(make(i)).then(
          (result) => onResult?.(i, result),
          (error: unknown) => {
            failed++;
            if (errors.length < 5) errors.push(String(error));
          },
        ),
      );
    }
    if (index < count) await new Promise((resolve) => setTimeout(resolve, Math.max(1, 1000 / rate)));
  }
  await Promise.all(pending);
  return { seconds: (performance.now() - started) / 1000, failed, errors };
}
