/**
 * Reads of a spooled message (relay/spool/read.ts): its header block (where it ends:
 * relay/mail/header-fields.test.ts), its bytes, a stream of them.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../relay/log/logger.js";
import { readHeaderBlock, readMessage, streamMessage } from "../../relay/spool/read.js";
import { Spool, type SpoolEntry } from "../../relay/spool/spool.js";
import { testEnvelope } from "../support/spool-envelope.js";
import { tempDir } from "../support/temp-dir.js";

async function spooled(raw: Buffer): Promise<SpoolEntry> {
  const { spool } = await Spool.open({ dir: join(await tempDir(), "spool"), logger: silentLogger() });
  const writer = await spool.create(testEnvelope());
  writer.stream.write(raw);
  return writer.commit();
}

describe("a spooled message's header block", () => {
  it("is read from the spool file after the envelope line, cut at the limit when it has no end", async () => {
    const entry = await spooled(Buffer.from("Subject: hi\r\nX-Relay-Track: opens=off\r\n\r\nbody\r\n"));
    expect((await readHeaderBlock(entry, 64 * 1024)).toString()).toBe(
      "Subject: hi\r\nX-Relay-Track: opens=off\r\n",
    );
    const long = await spooled(Buffer.from(`Subject: ${"x".repeat(10_000)}\r\nTo: a@b.test\r\n\r\nbody`));
    expect((await readHeaderBlock(long, 64 * 1024)).toString()).toMatch(/To: a@b\.test\r\n$/);
    expect(await readHeaderBlock(long, 5000)).toHaveLength(5000);
  });
});

describe("a spooled message's bytes", () => {
  it("are the message as received, whole or streamed through a descriptor the caller keeps", async () => {
    const raw = Buffer.from("Subject: hi\r\n\r\nbody\r\n");
    const entry = await spooled(raw);
    expect(await readMessage(entry)).toEqual(raw);
    const handle = await open(entry.path, "r");
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of streamMessage(entry, handle.fd)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks)).toEqual(raw);
      // Still open: the stream did not close it.
      expect((await handle.stat()).size).toBeGreaterThan(raw.length);
    } finally {
      await handle.close();
    }
  });
});
