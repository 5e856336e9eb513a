/**
 * Run by hostile.test.ts in a fresh process (node --expose-gc --import tsx): streams one
 * 100 MB message through a full copy with DKIM and prints the peak RSS growth as JSON. A fresh
 * process keeps other tests' garbage out of the figure.
 */
import { generateKeyPairSync } from "node:crypto";
import { Readable } from "node:stream";
import { transformForRecipient } from "../../relay/transform/index.js";
import { contextFor, testAccount } from "./support.js";

const megabytes = Number(process.argv[2] ?? 100);
const line = Buffer.from(`${"QUJD".repeat(19)}\r\n`);
const block = Buffer.concat(Array(840).fill(line));
async function* source() {
  yield Buffer.from(
    'From: a@acme.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n' +
      '--m\r\nContent-Type: text/html\r\n\r\n<a href="https://x.example/">x</a>\r\n' +
      "--m\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
  );
  for (let i = 0; i < (megabytes * 1024 * 1024) / block.length; i++) yield block;
  yield Buffer.from("--m--\r\n");
}
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const key = {
  domain: "acme.com",
  selector: "s",
  privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
};
const ctx = contextFor(testAccount({ dkim: [key] }));

(globalThis as { gc?: () => void }).gc?.();
const before = process.memoryUsage().rss;
let peak = before;
let bytes = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
for await (const chunk of transformForRecipient(Readable.from(source()), ctx))
  bytes += (chunk as Buffer).length;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
console.log(JSON.stringify({ bytes, rssGrowthMB: (peak - before) / 1024 / 1024 }));
