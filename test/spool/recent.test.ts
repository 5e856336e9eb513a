/**
 * The spool's writes and the bytes it keeps of the small messages it accepted
 * (relay/spool/spool.ts, relay/spool/recent.ts): what is kept is what the file holds,
 * big messages are not kept, removal drops them, and the bound holds.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { readRelayInstructions } from "../../relay/copy/index.js";
import { silentLogger } from "../../relay/log/logger.js";
import { headerBlockOf, readHeaderBlock, readMessage } from "../../relay/spool/read.js";
import { RecentMessages } from "../../relay/spool/recent.js";
import { readEntry, Spool } from "../../relay/spool/spool.js";
import { testEnvelope } from "../support/spool-envelope.js";
import { tempDir } from "../support/temp-dir.js";

async function openSpool(): Promise<Spool> {
  const { spool } = await Spool.open({ dir: join(await tempDir(), "spool"), logger: silentLogger() });
  return spool;
}

async function spoolParts(spool: Spool, id: string, parts: Buffer[]) {
  const writer = await spool.create(testEnvelope({ id }));
  for (const part of parts) writer.stream.write(part);
  return writer.commit();
}

describe("the spool's writes", () => {
  it("put the envelope line and every part on file, small and big messages alike", async () => {
    const spool = await openSpool();
    const small = [Buffer.from("Subject: a\r\n"), Buffer.from("\r\n"), Buffer.from("body\r\n")];
    const big = Array.from({ length: 40 }, (_, i) => Buffer.alloc(7000, 97 + (i % 26)));
    for (const [id, parts] of [
      ["msmall", small],
      ["mbig", big],
    ] as const) {
      const entry = await spoolParts(spool, id, [...parts]);
      const expected = Buffer.concat([...parts]);
      expect(entry.size).toBe(expected.length);
      expect(await readMessage(entry)).toEqual(expected);
      const reread = await readEntry(entry.path);
      expect(reread.bodyOffset).toBe(entry.bodyOffset);
      expect(reread.size).toBe(expected.length);
      expect((await readFile(entry.path)).subarray(entry.bodyOffset)).toEqual(expected);
    }
  });

  it("keep a small message's bytes, the same as its file, and drop them when it leaves", async () => {
    const spool = await openSpool();
    const raw = Buffer.from("Subject: hi\r\nX-Relay-Track: opens=off\r\n\r\nbody\r\n");
    const entry = await spoolParts(spool, "mkept", [raw.subarray(0, 10), raw.subarray(10)]);
    const kept = spool.recent.get(entry.path);
    expect(kept).toEqual(raw);
    // Its own memory, not a slice of Node's shared pool: a worker thread gets just these bytes.
    expect(kept?.buffer.byteLength).toBe(raw.length);
    expect(await text(spool.read(entry))).toBe(raw.toString());
    expect(await readRelayInstructions(entry, kept)).toEqual(await readRelayInstructions(entry));
    expect((await readRelayInstructions(entry, kept)).track).toEqual({ opens: false });
    await spool.remove(entry.id, { progress: false });
    expect(spool.recent.get(entry.path)).toBeUndefined();
    expect(spool.recent.size).toBe(0);
  });

  it("keep nothing of a message over the per-message bound", async () => {
    const spool = await openSpool();
    const big = [Buffer.alloc(40_000, 97), Buffer.alloc(40_000, 98)];
    const entry = await spoolParts(spool, "mtoobig", big);
    expect(spool.recent.get(entry.path)).toBeUndefined();
    expect(await text(spool.read(entry))).toBe(Buffer.concat(big).toString());
  });

  it("fail the commit, and keep nothing, when the last write fails", async () => {
    const spool = await openSpool();
    const writer = await spool.create(testEnvelope({ id: "mfails" }));
    writer.stream.write(Buffer.from("Subject: x\r\n\r\nbody\r\n"));
    // The gathered bytes go out at the end: a descriptor that no longer writes fails there.
    const fd = (writer.stream as unknown as { fd: number }).fd;
    const { closeSync, openSync } = await import("node:fs");
    closeSync(fd);
    const reused = openSync(join(spool.queueDir, "mfails.tmp"), "r");
    expect(reused).toBe(fd);
    // The commit closes its descriptor (now `reused`) and removes the file.
    await expect(writer.commit()).rejects.toThrow();
    expect(spool.recent.size).toBe(0);
    await writer.abort();
    await expect(readFile(join(spool.queueDir, "mfails.tmp"))).rejects.toThrow(/ENOENT/);
    expect(() => closeSync(reused)).toThrow(/EBADF/);
  });
});

describe("the kept messages", () => {
  it("hold at most their total, the least recently used leaving first", () => {
    const recent = new RecentMessages({ maxMessageBytes: 100, maxTotalBytes: 250 });
    recent.keep("a", [Buffer.alloc(100, 1)], 100);
    recent.keep("b", [Buffer.alloc(100, 2)], 100);
    expect(recent.get("a")?.[0]).toBe(1);
    recent.keep("c", [Buffer.alloc(100, 3)], 100);
    expect(recent.get("b")).toBeUndefined();
    expect(recent.get("a")?.[0]).toBe(1);
    expect(recent.get("c")?.[0]).toBe(3);
    expect(recent.size).toBe(200);
    recent.keep("d", [Buffer.alloc(101)], 101);
    expect(recent.get("d")).toBeUndefined();
  });

  it("cut a header block as readHeaderBlock does", async () => {
    const spool = await openSpool();
    for (const raw of [
      "A: 1\r\nB: 2\r\n\r\nbody",
      "A: 1\n\nbody\r\n\r\n",
      `A: ${"x".repeat(6000)}\r\n\r\nbody`,
      "A: 1\r\nno end",
    ]) {
      const entry = await spoolParts(spool, `m${raw.length}${raw.charCodeAt(5)}`, [Buffer.from(raw)]);
      for (const max of [8, 5000, 64 * 1024])
        expect(headerBlockOf(Buffer.from(raw), max)).toEqual(await readHeaderBlock(entry, max));
    }
  });
});
