/**
 * A whole relay (startRelay) whose default route delivers to an SMTP peer on
 * loopback, with its tracking listener on a known port so that the links it
 * writes into copies can be fetched. For end-to-end tests of the HTTP side.
 */
import { join } from "node:path";
import { onTestFinished } from "vitest";
import type { AccountInput } from "../../relay/accounts/schema.js";
import { type RelayConfigInput, relayConfigSchema } from "../../relay/config/schema.js";
import { silentLogger } from "../../relay/log/logger.js";
import { type Relay, startRelay } from "../../relay/main.js";
import { freePort } from "./free-port.js";
import { type SmtpPeer, startSmtpPeer } from "./smtp-peer.js";
import { tempDir } from "./temp-dir.js";

export interface RelayWithSink {
  relay: Relay;
  sink: SmtpPeer;
  trackingBase: string;
}

export async function startRelayWithSink(
  accounts: AccountInput[],
  extra: Partial<RelayConfigInput> = {},
): Promise<RelayWithSink> {
  const dir = await tempDir();
  const sink = await startSmtpPeer();
  onTestFinished(() => sink.stop());
  const trackingPort = await freePort();
  const trackingBase = `http://127.0.0.1:${trackingPort}`;
  const config = relayConfigSchema.parse({
    dataDir: join(dir, "data"),
    hostname: "relay.test",
    listen: {
      smtp: ["127.0.0.1:0"],
      api: "127.0.0.1:0",
      tracking: `127.0.0.1:${trackingPort}`,
      metrics: "127.0.0.1:0",
    },
    trackingBaseUrl: trackingBase,
    routes: {
      default: { policy: "failover", senders: [{ name: "sink", host: "127.0.0.1", port: sink.port }] },
    },
    accounts,
    ...extra,
  });
  const relay = await startRelay(config, silentLogger());
  onTestFinished(() => relay.stop());
  return { relay, sink, trackingBase };
}
