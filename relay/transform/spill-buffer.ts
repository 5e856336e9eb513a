/**
 * Holds a copy's bytes until its DKIM signature (which goes first) is known: in memory up to a
 * limit, then in a temporary file, so a 100 MB message does not sit in memory.
 */
import { createReadStream } from "node:fs";
import { type FileHandle, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class SpillBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private file: { dir: string; path: string; handle: FileHandle } | undefined;

  constructor(
    private readonly maxMemoryBytes: number,
    private readonly directory: string = tmpdir(),
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (this.file) {
      await this.file.handle.write(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size <= this.maxMemoryBytes) return;
    const dir = await mkdtemp(join(this.directory, "relayfleet-copy-"));
    const path = join(dir, "copy.eml");
    const handle = await open(path, "w", 0o600);
    this.file = { dir, path, handle };
    await handle.writev(this.chunks);
    this.chunks = [];
  }

  /** Yields everything written, then removes the temporary file. */
  async *drain(): AsyncGenerator<Buffer> {
    if (!this.file) {
      yield* this.chunks;
      this.chunks = [];
      return;
    }
    const { dir, path, handle } = this.file;
    try {
      await handle.close();
      for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
    } finally {
      this.file = undefined;
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Frees the temporary file when the copy is abandoned before drain. */
  async discard(): Promise<void> {
    this.chunks = [];
    if (!this.file) return;
    const { dir, handle } = this.file;
    this.file = undefined;
    await handle.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
