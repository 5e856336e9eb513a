/**
 * The inspection folder: feedback the relay could not act on (unparseable,
 * unattributable, an ARF auth-failure report) is written here before the
 * sender hears 250, so nothing that came back is ever silently dropped.
 * One file per message: a trace header saying why and from whom, then the
 * message exactly as received. Written to a temporary name, fsynced, then
 * renamed, so a crash leaves either the whole file or none.
 * The folder is bounded: at `maxFiles` the relay answers 452 (the sender
 * keeps the message and retries) until someone looks and clears it.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";

export interface KeptMessage {
  reason: string;
  mailFrom: string;
  rcptTo: string[];
  clientIp: string;
  at: number;
  /** Present when the return path named one. */
  messageId?: string;
}

export class InspectionFolder {
  private count = 0;

  private constructor(
    readonly dir: string,
    private readonly maxFiles: number,
  ) {}

  static async open(dir: string, maxFiles: number): Promise<InspectionFolder> {
    await mkdir(dir, { recursive: true });
    const folder = new InspectionFolder(dir, maxFiles);
    const names = await readdir(dir);
    for (const name of names) if (name.endsWith(".tmp")) await unlink(join(dir, name)).catch(() => undefined);
    folder.count = names.filter((name) => name.endsWith(".eml")).length;
    return folder;
  }

  get files(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.maxFiles;
  }

  /** Writes the message; resolves with its file name once it is durable. */
  async keep(raw: Buffer, meta: KeptMessage): Promise<string> {
    const name = `${new Date(meta.at).toISOString().replace(/[:.]/g, "-")}-${randomBytes(6).toString("hex")}.eml`;
    const trace = `X-Relayfleet-Feedback: ${traceValue(meta)}\r\n`;
    const temporary = join(this.dir, `${name}.tmp`);
    const handle = await open(temporary, "w", 0o640);
    try {
      await handle.writeFile(Buffer.concat([Buffer.from(trace, "utf8"), raw]));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, join(this.dir, name));
    this.count++;
    return name;
  }
}

function traceValue(meta: KeptMessage): string {
  const clean = (text: string) =>
    // biome-ignore lint/suspicious/noControlCharactersInRegex: keeping the trace header one line is the point
    text.replace(/[\u0000-\u001f\u007f;]+/g, " ").slice(0, 300);
  const parts = [
    `reason=${clean(meta.reason)}`,
    `from=<${clean(meta.mailFrom)}>`,
    `to=${meta.rcptTo.map((address) => `<${clean(address)}>`).join(",")}`,
    `ip=${clean(meta.clientIp)}`,
    `at=${new Date(meta.at).toISOString()}`,
    ...(meta.messageId ? [`message=${meta.messageId}`] : []),
  ];
  return parts.join("; ");
}
