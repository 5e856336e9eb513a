/**
 * Run by pool.test.ts in a fresh process (node --expose-gc --import tsx): spools one
 * 100 MB message, has a copy worker stream its copy (DKIM on) to a file, and prints the peak
 * RSS growth of the whole process (worker included) as JSON. The baseline is taken after a
 * small copy, so the worker's own start-up is not counted.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_INSTRUCTIONS } from "../../relay/copy/instructions.js";
import { CopyPool } from "../../relay/copy/pool.js";
import type { CopyTask } from "../../relay/copy/task.js";
import { silentLogger } from "../../relay/log/logger.js";
import { Spool, type SpoolEntry } from "../../relay/spool/spool.js";
import { testEnvelope } from "../support/spool-envelope.js";
import { KEYRING, TRACKING_BASE, testAccount } from "../transform/support.js";

const megabytes = Number(process.argv[2] ?? 100);
const dir = await mkdtemp(join(tmpdir(), "relayfleet-pool-memory-"));
const { spool } = await Spool.open({ dir: join(dir, "spool"), logger: silentLogger() });

async function spooled(id: string, fill: AsyncGenerator<Buffer>): Promise<SpoolEntry> {
  const writer = await spool.create(testEnvelope({ id }));
  for await (const chunk of fill)
    if (!writer.stream.write(chunk)) await new Promise((resolve) => writer.stream.once("drain", resolve));
  return writer.commit();
}

const head =
  'From: a@acme.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n' +
  '--m\r\nContent-Type: text/html\r\n\r\n<a href="https://x.example/">x</a>\r\n' +
  "--m\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n";
const line = Buffer.from(`${"QUJD".repeat(19)}\r\n`);
const block = Buffer.concat(Array(840).fill(line));
async function* big(size: number) {
  yield Buffer.from(head);
  for (let i = 0; i < size / block.length; i++) yield block;
  yield Buffer.from("--m--\r\n");
}
const small = await spooled("000000000smallsmall0001", big(2 * 1024 * 1024));
const large = await spooled("000000000largelarge0002", big(megabytes * 1024 * 1024));

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const account = testAccount({
  dkim: [
    {
      domain: "acme.com",
      selector: "s",
      privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    },
  ],
});
await mkdir(join(dir, "copies"));
const pool = new CopyPool({
  size: 1,
  copiesDir: join(dir, "copies"),
  deadline: { seconds: 600, secondsPerMiB: 0 },
});
const task = (entry: SpoolEntry): CopyTask => ({
  path: entry.path,
  bodyOffset: entry.bodyOffset,
  size: entry.size,
  messageId: entry.id,
  recipient: "r@example.net",
  envelopeFrom: "a@acme.com",
  mode: "full",
  account,
  trackingBaseUrl: TRACKING_BASE,
  tokenKeys: KEYRING,
  instructions: NO_INSTRUCTIONS,
});

await pool.make(task(small));
(globalThis as { gc?: () => void }).gc?.();
const before = process.memoryUsage().rss;
let peak = before;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
const made = await pool.make(task(large));
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
const bytes = made.kind === "file" ? (await stat(made.path)).size : made.bytes.length;
await pool.close();
await rm(dir, { recursive: true, force: true });
console.log(JSON.stringify({ kind: made.kind, bytes, rssGrowthMB: (peak - before) / 1024 / 1024 }));
