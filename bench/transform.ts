/**
 * Transform throughput: recipients/second for one 10 KB HTML message with 20 links, full mode
 * (opens, clicks, ***uniqueid***, List-Unsubscribe, autoAlternative), without DKIM, with
 * RSA-2048 and with ed25519; plus passthrough mode. Then the same work on 2 worker threads, to
 * see whether moving the transform off the main thread pays on this machine.
 *
 *   npx tsx bench/transform.ts [seconds-per-case]
 */
import { generateKeyPairSync } from "node:crypto";
import { createRequire } from "node:module";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { accountSchema, type DkimKey } from "../relay/accounts/schema.js";
import { makeKeyring } from "../relay/tracking/token.js";
import { AlternativeCache, KeyCache, transformForRecipient } from "../relay/transform/index.js";

type Case = "none" | "rsa" | "ed25519" | "passthrough";

function message(): Buffer {
  const links = Array.from(
    { length: 20 },
    (_, i) =>
      `<p>Item ${i}: <a href="https://shop.example.com/product/${i}?utm_source=mail&amp;id=${i}">see item ${i}</a></p>`,
  );
  let html = `<html><head><title>Offer</title></head><body><h1>Spring sale</h1>\r\n${links.join("\r\n")}\r\n`;
  while (html.length < 10_000)
    html += "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.</p>\r\n";
  html += '<p><a href="https://t.example.com/u/***uniqueid***">unsubscribe</a></p></body></html>';
  return Buffer.from(
    "From: Shop <news@acme.com>\r\nTo: someone@example.net\r\nSubject: Spring sale\r\nDate: Mon, 1 Apr 2024 10:00:00 +0000\r\n" +
      "Message-ID: <bench@acme.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n" +
      `Content-Transfer-Encoding: 7bit\r\n\r\n${html}\r\n`,
  );
}

function keys(kind: Case): DkimKey[] {
  if (kind === "rsa") {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    return [
      {
        domain: "acme.com",
        selector: "r",
        privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      },
    ];
  }
  if (kind === "ed25519") {
    const { privateKey } = generateKeyPairSync("ed25519");
    return [
      {
        domain: "acme.com",
        selector: "e",
        privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      },
    ];
  }
  return [];
}

/** Copies made in `seconds` on this thread. */
async function run(kind: Case, seconds: number): Promise<number> {
  const input = message();
  const account = accountSchema.parse({ name: "acme", createdAt: 0, updatedAt: 0, dkim: keys(kind) });
  const base = {
    mode: kind === "passthrough" ? ("passthrough" as const) : ("full" as const),
    messageId: "bench-0001",
    envelopeFrom: "news@acme.com",
    account,
    trackingBaseUrl: "https://t.example.com",
    tokenKeys: makeKeyring({ id: "k1", secret: Buffer.alloc(32, 9) }),
    keyCache: new KeyCache(),
    alternatives: new AlternativeCache(),
  };
  const copy = async (i: number) => {
    let bytes = 0;
    for await (const chunk of transformForRecipient(Readable.from([input]), {
      ...base,
      recipient: `r${i}@example.net`,
    })) {
      bytes += (chunk as Buffer).length;
    }
    return bytes;
  };
  for (let i = 0; i < 200; i++) await copy(i); // warm up
  const end = performance.now() + seconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    await copy(count);
    count++;
  }
  return count;
}

if (!isMainThread) {
  const { kind, seconds } = workerData as { kind: Case; seconds: number };
  run(kind, seconds).then((count) => parentPort!.postMessage(count));
} else {
  const seconds = Number(process.argv[2] ?? 5);
  const cases: Case[] = ["none", "rsa", "ed25519", "passthrough"];
  console.log(`10 KB HTML, 20 links, ${seconds} s per case, Node ${process.version}`);
  for (const kind of cases) {
    const single = (await run(kind, seconds)) / seconds;
    const perWorker = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number>((resolve, reject) => {
            // Workers do not inherit the tsx loader on Node 20: register it, then load this file.
            const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(
              /\.cjs$/,
              ".mjs",
            );
            const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(import.meta.url)});`;
            const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), {
              workerData: { kind, seconds },
            });
            worker.once("message", resolve);
            worker.once("error", reject);
          }),
      ),
    );
    const twoWorkers = perWorker.reduce((a, b) => a + b, 0) / seconds;
    console.log(
      `${kind.padEnd(12)} main thread ${single.toFixed(0).padStart(6)} recipients/s   2 worker threads ${twoWorkers.toFixed(0).padStart(6)} recipients/s`,
    );
  }
}
