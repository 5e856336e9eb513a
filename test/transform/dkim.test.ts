/**
 * DKIM is signed last, over the final bytes: checked by mailauth and by Debian python3-dkim's
 * dkimverify (its own code, DNS answered locally by dkimverify-offline.py).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import fc from "fast-check";
import { dkimVerify } from "mailauth";
import { dkimBody } from "mailauth/lib/dkim/body/index.js";
import { describe, expect, it } from "vitest";
import { RelaxedBodyHash } from "../../relay/transform/dkim.js";
import { tempDir } from "../support/temp-dir.js";
import { contextFor, ed25519Key, rsaKey, runCopy, testAccount } from "./support.js";

const rsa = rsaKey("acme.com", "rsa1");
const ed = ed25519Key("acme.com", "ed1");
const other = rsaKey("other.example", "x1");
const TXT: Record<string, string> = {
  "rsa1._domainkey.acme.com": rsa.dnsTxt,
  "ed1._domainkey.acme.com": ed.dnsTxt,
  "x1._domainkey.other.example": other.dnsTxt,
};
const resolver = async (name: string, type: string) => {
  const txt = type === "TXT" ? TXT[name] : undefined;
  if (!txt) throw Object.assign(new Error(`no ${type} for ${name}`), { code: "ENOTFOUND" });
  return [[txt]];
};

async function pythonDkimverify(message: Buffer, index: number): Promise<{ code: number; out: string }> {
  const child = spawn(
    "/usr/bin/python3",
    [new URL("./dkimverify-offline.py", import.meta.url).pathname, "--index", String(index)],
    {
      env: { ...process.env, DKIM_TXT: JSON.stringify(TXT) },
    },
  );
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (out += chunk));
  child.stdin.end(message);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  return { code, out: out.trim() };
}

async function expectVerified(message: Buffer, count: number) {
  const result = await dkimVerify(message, { resolver });
  expect(result.results.map((r) => `${r.selector}:${r.status.result}`)).toEqual(
    result.results.map((r) => `${r.selector}:pass`),
  );
  expect(result.results).toHaveLength(count);
  for (let index = 0; index < count; index++) {
    expect(await pythonDkimverify(message, index)).toEqual({ code: 0, out: "signature ok" });
  }
}

const message = (from: string, extra = "") =>
  Buffer.from(
    `From: "Acme =?utf-8?q?N=C3=B6tig?=" <${from}>\r\nTo: rcpt@example.net\r\nSubject: =?utf-8?B?R3LDvMOfZQ==?=\r\n` +
      ` folded\r\nX-Relay-Group: receipts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b1"\r\n\r\n` +
      `--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHallo \u00fc https://acme.com/a?x=1&y=2\r\n${extra}` +
      `--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n` +
      `<html><body><a href=3D"https://acme.com/reset?u=3D1&amp;t=3D2">reset</a></body></html>\r\n--b1--\r\n`,
    "utf8",
  );

describe("DKIM", () => {
  it("signs with every key of the From domain (RSA and ed25519), verified by mailauth and dkimverify", async () => {
    const account = testAccount({ dkim: [rsa.key, ed.key, other.key] });
    const { output, summary } = await runCopy(message("news@acme.com"), contextFor(account));
    expect(summary.dkim).toEqual(["rsa1._domainkey.acme.com", "ed1._domainkey.acme.com"]);
    expect(output.toString("latin1").startsWith("DKIM-Signature: ")).toBe(true);
    await expectVerified(output, 2);
  });

  it("signs a subdomain's mail with the parent domain's key, and nothing for a foreign From", async () => {
    const account = testAccount({ dkim: [rsa.key] });
    const sub = await runCopy(message("alerts@mail.acme.com"), contextFor(account));
    expect(sub.summary.dkim).toEqual(["rsa1._domainkey.acme.com"]);
    await expectVerified(sub.output, 1);
    const foreign = await runCopy(message("someone@elsewhere.example"), contextFor(account));
    expect(foreign.summary.dkim).toEqual([]);
  });

  it("replaces stray CR and LF before signing, so the signature holds for the bytes sent (row 2)", async () => {
    const smuggled = message("news@acme.com", "line one\rline two\n.\nMAIL FROM:<ceo@victim>\r.\r\n");
    const account = testAccount({ dkim: [rsa.key] });
    for (const mode of ["full", "passthrough"] as const) {
      const { output } = await runCopy(smuggled, contextFor(account, { mode }));
      const text = output.toString("latin1");
      expect(/\r(?!\n)|(?<!\r)\n/.test(text)).toBe(false);
      expect(text).toContain("line one line two\r\n.\r\nMAIL FROM:<ceo@victim> .\r\n");
      await expectVerified(output, 1);
    }
  });

  it("passthrough mode: body byte for byte, X-Relay-* removed, DKIM added", async () => {
    const account = testAccount({ dkim: [ed.key] });
    const input = message("news@acme.com");
    const { output, summary } = await runCopy(input, contextFor(account, { mode: "passthrough" }));
    expect(summary.bodyChanged).toBe(false);
    const body = (b: Buffer) => b.subarray(b.indexOf("\r\n\r\n"));
    expect(body(output).equals(body(input))).toBe(true);
    expect(output.toString("latin1")).not.toContain("X-Relay-Group");
    expect(output.toString("latin1")).not.toContain("List-Unsubscribe");
    await expectVerified(output, 1);
  });

  it("holds a copy bigger than the memory limit in a temporary file, removed afterwards", async () => {
    const dir = await tempDir("relayfleet-dkim-");
    const attachment = randomBytes(600 * 1024)
      .toString("base64")
      .replace(/.{76}/g, "$&\r\n");
    const big = Buffer.from(
      `From: a@acme.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n` +
        `--m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--m\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--m--\r\n`,
    );
    const account = testAccount({ dkim: [rsa.key] });
    const chunks = Array.from({ length: Math.ceil(big.length / 65536) }, (_, i) =>
      big.subarray(i * 65536, (i + 1) * 65536),
    );
    const { output } = await runCopy(
      chunks,
      contextFor(account, { tmpDir: dir, limits: { maxBufferedOutputBytes: 64 * 1024 } }),
    );
    await expectVerified(output, 1);
    expect(await readdir(dir)).toEqual([]);
  });

  it("hashes the relaxed body exactly as mailauth does, however the body is chunked", () => {
    const piece = fc.constantFrom("a", " ", "\t", "\r\n", "b", "\r\n\r\n", "\u00e9");
    fc.assert(
      fc.property(fc.array(fc.string({ unit: piece })), fc.array(fc.nat(40)), (parts, cuts) => {
        const body = Buffer.from(`${parts.join("")}\r\n`, "latin1");
        const reference = dkimBody("relaxed", "sha256", false);
        reference.update(body);
        const ours = new RelaxedBodyHash();
        let offset = 0;
        for (const cut of cuts) {
          ours.update(body.subarray(offset, offset + cut));
          offset += cut;
        }
        ours.update(body.subarray(offset));
        expect(ours.digest("base64")).toBe(reference.digest("base64"));
      }),
      { numRuns: 2000 },
    );
  });
});
