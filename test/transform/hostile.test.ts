/**
 * HOSTILE-INPUTS rows 8-14 against the transform: bombs stay bounded, broken parts are copied
 * with a reason, charsets and raw header bytes survive.
 */
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { type TransformNotice, transformForRecipient } from "../../relay/transform/index.js";
import { contextFor, listLeaves, runCopy, testAccount } from "./support.js";

const head = "From: a@acme.com\r\nTo: b@example.net\r\nSubject: t\r\nMIME-Version: 1.0\r\n";
const bodyOf = (message: Buffer) => message.subarray(message.indexOf("\r\n\r\n") + 4);

async function copyWithNotices(input: Buffer | Buffer[]) {
  const notices: TransformNotice[] = [];
  const result = await runCopy(input, contextFor(testAccount(), { onNotice: (n) => notices.push(n) }));
  return { ...result, codes: notices.map((n) => n.code) };
}

describe("bombs (rows 9, 10)", () => {
  it("10,000 nested multiparts: past depth 100 the rest is copied unparsed, byte for byte", async () => {
    const depth = 10_000;
    let message = `${head}Content-Type: multipart/mixed; boundary="b0"\r\n\r\n`;
    for (let i = 1; i < depth; i++)
      message += `--b${i - 1}\r\nContent-Type: multipart/mixed; boundary="b${i}"\r\n\r\n`;
    message += `--b${depth - 1}\r\nContent-Type: text/html\r\n\r\n<a href="https://x.example/">deep</a>\r\n`;
    for (let i = depth - 1; i >= 0; i--) message += `--b${i}--\r\n`;
    const input = Buffer.from(message);
    const { output, codes } = await copyWithNotices(input);
    expect(codes).toEqual(["depth-limit"]);
    expect(bodyOf(output).equals(bodyOf(input))).toBe(true);
  });

  it("100,000 parts: past 1000 parts nothing more is parsed or edited", async () => {
    const part = "--p\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n";
    const tail =
      '--p\r\nContent-Type: text/html\r\n\r\n<a href="https://late.example/">late</a>\r\n--p--\r\n';
    const input = Buffer.from(
      `${head}Content-Type: multipart/mixed; boundary="p"\r\n\r\n${part.repeat(100_000)}${tail}`,
    );
    const chunks = Array.from({ length: Math.ceil(input.length / 65536) }, (_, i) =>
      input.subarray(i * 65536, (i + 1) * 65536),
    );
    const { output, codes } = await copyWithNotices(chunks);
    expect(codes).toEqual(["part-limit"]);
    expect(bodyOf(output).equals(bodyOf(input))).toBe(true);
  });

  it("a 10 MB header block fails the copy with EMAXLEN instead of growing memory", async () => {
    const received = "Received: from a.example by b.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
    const input = Buffer.from(`${received.repeat(150_000)}${head}\r\nbody\r\n`);
    const copy = transformForRecipient(Readable.from([input]), contextFor(testAccount()));
    await expect(copy.toArray()).rejects.toMatchObject({ code: "EMAXLEN" });
  });

  it("a 100 MB message streams with memory that stays flat (DKIM on)", { timeout: 60_000 }, async () => {
    const probe = new URL("./flat-memory-probe.ts", import.meta.url).pathname;
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", probe, "100"], {
      cwd: process.cwd(),
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (out += chunk));
    expect(await new Promise((resolve) => child.on("close", resolve))).toBe(0);
    const { bytes, rssGrowthMB } = JSON.parse(out) as { bytes: number; rssGrowthMB: number };
    expect(bytes).toBeGreaterThan(100 * 1024 * 1024);
    // Streamed, never held whole: the process grows by less than the message. The design
    // target (under 64 MB) is measured by the benchmark's 100 MB message (docs/testing.md).
    expect(rssGrowthMB).toBeLessThan(100);
  });
});

describe("malformed MIME, broken encodings (rows 11, 12)", () => {
  it("copies an undecodable base64 or quoted-printable part as it came, with a reason", async () => {
    for (const [cte, body, code] of [
      ["base64", "PGh0bWw+!!not base64!!", "undecodable-base64"],
      ["quoted-printable", '<a href=3D"https://x.example/">x</a> =ZZ', "undecodable-quoted-printable"],
    ] as const) {
      const input = Buffer.from(
        `${head}Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\nContent-Type: text/html\r\n` +
          `Content-Transfer-Encoding: ${cte}\r\n\r\n${body}\r\n--a--\r\n`,
      );
      const { output, codes } = await copyWithNotices(input);
      expect(codes).toEqual([code]);
      expect(bodyOf(output).equals(bodyOf(input))).toBe(true);
    }
  });

  it("survives missing and unterminated boundaries and multipart without boundary=", async () => {
    const inputs = [
      `${head}Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n`,
      `${head}Content-Type: multipart/mixed; boundary="u"\r\n\r\n--u\r\nContent-Type: text/plain\r\n\r\nno end https://x.example/`,
      `${head}Content-Type: multipart/mixed; boundary="u"\r\n\r\n--u\r\nContent-Type: text/html\r\n\r\n<a href="https://x.example/">`,
    ];
    for (const text of inputs) {
      const { output } = await copyWithNotices(Buffer.from(text));
      expect(output.length).toBeGreaterThan(text.length / 2);
      await expect(simpleParser(output)).resolves.toBeDefined();
    }
    const { output, codes } = await copyWithNotices(Buffer.from(inputs[0]!));
    expect(codes).toContain("multipart-without-boundary");
    expect(bodyOf(output).equals(bodyOf(Buffer.from(inputs[0]!)))).toBe(true);
  });

  it("never edits inside multipart/signed", async () => {
    const signed =
      `--s\r\nContent-Type: text/html\r\n\r\n<a href="https://x.example/">x</a>\r\n` +
      `--s\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n--s--\r\n`;
    const input = Buffer.from(
      `${head}Content-Type: multipart/signed; boundary="s"; protocol="application/pgp-signature"\r\n\r\n${signed}`,
    );
    const { output, codes } = await copyWithNotices(input);
    expect(codes).toEqual(["signed-content"]);
    expect(bodyOf(output).equals(bodyOf(input))).toBe(true);
  });
});

describe("charsets, 8-bit, NUL (rows 13, 14)", () => {
  it("tracks links in ISO-2022-JP HTML without touching the kanji bytes", async () => {
    const kanji = Buffer.from([0x1b, 0x24, 0x42, 0x30, 0x26, 0x3c, 0x22, 0x3d, 0x3e, 0x1b, 0x28, 0x42]);
    const html = Buffer.concat([
      Buffer.from('<html><body><a href="https://x.example/">'),
      kanji,
      Buffer.from("</a></body></html>"),
    ]);
    const input = Buffer.concat([
      Buffer.from(
        `${head}Content-Type: text/html; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n`,
      ),
      html,
      Buffer.from("\r\n"),
    ]);
    const { output } = await runCopy(input, contextFor(testAccount({ autoAlternative: false })));
    expect(output.includes(kanji)).toBe(true);
    expect(output.toString("latin1")).toMatch(/href="https:\/\/t\.example\.com\/c\//);
    expect((await listLeaves(output))[0]!.charset).toBe("iso-2022-jp");
  });

  it("keeps raw 8-bit and folded encoded-word headers byte for byte", async () => {
    const raw = Buffer.concat([
      Buffer.from("Subject: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\n =?utf-8?q?caf=C3=A9?=\r\nX-Raw: "),
      Buffer.from([0xe6, 0x97, 0xa5, 0xff]),
      Buffer.from("\r\nFrom: a@acme.com\r\n\r\nhello\r\n"),
    ]);
    const { output } = await runCopy(raw, contextFor(testAccount()));
    expect(output.includes(raw.subarray(0, raw.indexOf("From:")))).toBe(true);
  });

  it("drops NUL from the body (row 14)", async () => {
    const { output } = await runCopy(
      Buffer.from(`${head}\r\nbad\0byte\r\n`),
      contextFor(testAccount({ autoAlternative: false })),
    );
    expect(output.includes(0)).toBe(false);
    expect(output.toString()).toContain("badbyte");
  });
});
