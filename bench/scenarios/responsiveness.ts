/**
 * Responsiveness: the design targets that were once wall-clock assertions in the test suite
 * (docs/testing.md), measured here instead. Time from TCP connect to the 220 banner on a relay
 * process's submission listener (target: under 90 ms), and the tracking pixel's answer time
 * while the account's webhook receiver hangs every POST (target: under 100 ms a pixel), with the
 * tracking server, a local Store and the webhook dispatcher in this process.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpServer, type Server } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { accountSchema } from "../../relay/accounts/schema.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import { startTrackingServer } from "../../relay/tracking/server.js";
import { makeKeyring, signToken } from "../../relay/tracking/token.js";
import { WebhookDispatcher, withEventTap } from "../../relay/webhooks/index.js";
import { benchAccount, startRelayProcess } from "../lib/relay-process.js";
import { type Percentiles, percentiles } from "../lib/stats.js";

export interface ResponsivenessResult {
  /** Milliseconds from connect to the whole 220 line. */
  banner: Percentiles;
  /** Milliseconds per pixel request, each POST of its open held until the webhook timeout. */
  pixelWhileReceiverHangs: Percentiles;
}

export interface ResponsivenessOptions {
  dir: string;
  samples: number;
  log: (line: string) => void;
}

function port(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on TCP");
  return address.port;
}

/** Connects, waits for the banner's line, and says QUIT. */
function bannerMs(smtpPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ port: smtpPort, host: "127.0.0.1" });
    let text = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (!text.includes("\r\n")) return;
      const took = performance.now() - started;
      if (!text.startsWith("220 ")) reject(new Error(`banner: ${text.trim()}`));
      socket.end("QUIT\r\n");
      resolve(took);
    });
  });
}

async function measureBanner(options: ResponsivenessOptions): Promise<Percentiles> {
  const relay = await startRelayProcess({
    name: "banner",
    mode: "full",
    dir: join(options.dir, "banner"),
    routes: { default: { senders: [{ name: "s", host: "127.0.0.1", port: 9, tls: "none" }] } },
    accounts: [benchAccount("acme", "acme.example")],
  });
  try {
    for (let i = 0; i < 20; i++) await bannerMs(relay.smtpPort); // warm up
    const times: number[] = [];
    for (let i = 0; i < options.samples; i++) times.push(await bannerMs(relay.smtpPort));
    return percentiles(times);
  } finally {
    await relay.stop();
  }
}

async function measurePixel(options: ResponsivenessOptions): Promise<Percentiles> {
  const hanging = createHttpServer(() => undefined); // takes each POST, never answers
  hanging.listen(0, "127.0.0.1");
  await once(hanging, "listening");
  const backing = await openLocalStore({ dir: join(options.dir, "pixel-store") });
  const metrics = createMetrics({ defaultMetrics: false });
  const dispatcher = new WebhookDispatcher({
    store: backing,
    settings: { allowPrivateTargets: ["127.0.0.0/8"], timeoutMs: 2_000, pollMs: 50 },
    registry: metrics.registry,
  });
  const store = withEventTap(backing, dispatcher.onEvent);
  const keys = makeKeyring({ id: "k1", secret: randomBytes(32) });
  const tracking = await startTrackingServer({ store, keys, metrics }, "127.0.0.1", 0);
  try {
    const now = Date.now();
    await store.putAccount(accountSchema.parse({ name: "acme", createdAt: now, updatedAt: now }));
    const messageId = `M${randomBytes(6).toString("hex")}`;
    await store.recordMessage({
      id: messageId,
      account: "acme",
      from: "news@acme.example",
      recipients: ["reader@example.org"],
      size: 100,
      acceptedAt: now,
    });
    await backing.putWebhook({
      id: `wh_${randomBytes(4).toString("hex")}`,
      account: "acme",
      url: `http://127.0.0.1:${port(hanging)}/hook`,
      events: ["open"],
      secret: "whsec_bench-responsiveness-000",
      createdAt: now,
      active: true,
    });
    const pixel = `http://127.0.0.1:${port(tracking)}/o/${signToken(keys, { kind: "open", messageId, recipient: "reader@example.org" })}.gif`;
    const headers = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" };
    const times: number[] = [];
    for (let i = 0; i < options.samples; i++) {
      const started = performance.now();
      const answer = await fetch(pixel, { headers });
      await answer.arrayBuffer();
      times.push(performance.now() - started);
      if (answer.status !== 200) throw new Error(`pixel answered ${answer.status}`);
    }
    return percentiles(times);
  } finally {
    await dispatcher.close();
    tracking.closeAllConnections();
    await new Promise((resolve) => tracking.close(resolve));
    hanging.closeAllConnections();
    await new Promise((resolve) => hanging.close(resolve));
    await backing.close();
  }
}

export async function runResponsiveness(options: ResponsivenessOptions): Promise<ResponsivenessResult> {
  options.log(`banner on a submission listener, ${options.samples} connections`);
  const banner = await measureBanner(options);
  options.log(`pixel while the webhook receiver hangs, ${options.samples} requests`);
  const pixelWhileReceiverHangs = await measurePixel(options);
  return { banner, pixelWhileReceiverHangs };
}
