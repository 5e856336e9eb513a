/**
 * The relay's configuration (docs/configuration.md; every key in
 * docs/reference/config.md, generated from the descriptions here). Every key is
 * optional; the defaults make `npm start` work on a bare machine: loopback
 * listeners, the embedded store under ./.relayfleet, full processing.
 * Unknown keys are errors, so a typo never silently falls back to a default.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { accountInputSchema } from "../accounts/schema.js";
import { routeTableSchema } from "../routes/schema.js";

export interface ListenAddress {
  host: string;
  port: number;
}

/** "host:port", "[v6]:port" or ":port" (all interfaces). */
export function parseListenAddress(value: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/i.exec(value);
  if (!match) return undefined;
  const host = match[1] ?? (match[2] || "0.0.0.0");
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

function isIpOrCidr(value: string): boolean {
  const [address = "", bits, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const listenAddressSchema = z
  .string()
  .refine((v) => parseListenAddress(v) !== undefined, "an address such as 0.0.0.0:2525 or [::]:2525");

const relayConfigFields = z.strictObject({
  hostname: z.string().min(1).max(253).default("localhost").describe("EHLO and banner name."),
  listen: z
    .strictObject({
      smtp: z
        .array(listenAddressSchema)
        .min(1)
        .default(["127.0.0.1:2525"])
        .describe("SMTP listeners (`host:port`, `[v6]:port`, `:port`); STARTTLS when `tls` is set."),
      smtps: z
        .array(listenAddressSchema)
        .default([])
        .describe(
          "Implicit-TLS submission listeners (RFC 8314, e.g. `0.0.0.0:465`): TLS from the first byte, AUTH at once; need `tls`.",
        ),
      tracking: listenAddressSchema
        .default("127.0.0.1:8080")
        .describe("HTTP listener of the tracking pixel, clicks and unsubscribes."),
      api: listenAddressSchema
        .default("127.0.0.1:8081")
        .describe("HTTP listener of the API and web console."),
      metrics: listenAddressSchema.default("127.0.0.1:9464").describe("HTTP listener of /metrics."),
    })
    .default({
      smtp: ["127.0.0.1:2525"],
      smtps: [],
      tracking: "127.0.0.1:8080",
      api: "127.0.0.1:8081",
      metrics: "127.0.0.1:9464",
    })
    .describe("Listen addresses."),
  tls: z
    .strictObject({
      cert: z.string().min(1).describe("PEM file of the certificate chain."),
      key: z.string().min(1).describe("PEM file of the private key."),
    })
    .optional()
    .describe(
      "PEM files for STARTTLS and the smtps listeners, re-read when they change (a renewed Kubernetes Secret). Without it, listeners that are not loopback offer no AUTH.",
    ),
  maxMessageBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 31)
    .default(104_857_600)
    .describe("Largest message taken, announced in SIZE; past it 552 5.3.4."),
  dataDir: z
    .string()
    .min(1)
    .default("./.relayfleet")
    .describe("Spool (spool/queue), embedded store and generated secrets; created 0700."),
  store: z
    .strictObject({
      redis: z
        .string()
        .startsWith("redis", "a redis:// or rediss:// URL")
        .optional()
        .describe("Redis URL of the shared Store; absent: the embedded store under dataDir."),
      cluster: z
        .boolean()
        .default(false)
        .describe("`redis` names a node of a Redis Cluster (the client discovers the others)."),
    })
    .default({ cluster: false })
    .describe("Where accounts, the message log and counters are kept."),
  trackingBaseUrl: z
    .url({ protocol: /^https?$/ })
    .default("http://127.0.0.1:8080")
    .describe("Base of pixel, click and unsubscribe links."),
  secretFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      "File of the HMAC key for tracking tokens and VERP return paths; generated under dataDir when absent. Relays that share a Store must share it.",
    ),
  trackingSecret: z
    .string()
    .min(16, "at least 16 characters")
    .optional()
    .describe(
      "The tracking HMAC key itself (env RELAYFLEET_TRACKING_SECRET), for relays that share one: every relay of a pool must verify the tokens the others wrote. Wins over secretFile.",
    ),
  apiToken: z
    .string()
    .min(16, "at least 16 characters")
    .optional()
    .describe(
      "Bearer token for the admin API; generated under dataDir (api-token, 0600) when absent, and printed only when stdout and stderr are a terminal.",
    ),
  mode: z
    .enum(["full", "passthrough"])
    .default("full")
    .describe("full: transform and track each copy; passthrough: relay messages as they came."),
  intake: z
    .strictObject({
      maxRecipients: z.number().int().min(1).max(100_000).default(1000).describe("Recipients per message."),
      maxConnections: z.number().int().min(1).default(1000).describe("SMTP connections open at once."),
      // Postfix's smtpd_client_connection_count_limit default.
      maxConnectionsPerIp: z
        .number()
        .int()
        .min(1)
        .default(50)
        .describe(
          "SMTP connections per client. An IPv6 /64 counts as one client; clients in any account's allowedIps are exempt.",
        ),
      idleTimeoutSeconds: z.number().min(1).default(60).describe("A session idle this long is closed."),
      sessionTimeoutSeconds: z
        .number()
        .min(1)
        .default(1800)
        .describe("A whole SMTP session, however busy, ends after this."),
      minDataRate: z
        .number()
        .int()
        .min(0)
        .default(500)
        .describe(
          "Bytes/second a DATA transfer must keep up, after dataRateGraceSeconds (Postfix smtpd_min_data_rate).",
        ),
      dataRateGraceSeconds: z
        .number()
        .min(0)
        .default(30)
        .describe("Seconds into DATA before minDataRate applies (a slow start is not yet a slow sender)."),
      greetingDelayMs: z
        .number()
        .int()
        .min(0)
        .max(30_000)
        .optional()
        .describe(
          "Wait before the banner to catch early talkers; absent: 100 ms on port 25, none on submission ports.",
        ),
      maxAuthFailuresPerConnection: z
        .number()
        .int()
        .min(1)
        .default(3)
        .describe("Failed AUTH attempts before the connection is closed."),
      maxAuthFailuresPerIp: z
        .number()
        .int()
        .min(1)
        .default(20)
        .describe(
          "Failures per client address (an IPv6 /64 counts as one) in 15 minutes, fleet-wide, before AUTH is refused outright with 421 4.7.0 (responses slow down before that).",
        ),
      maxAuthFailuresPerUsername: z
        .number()
        .int()
        .min(1)
        .default(100)
        .describe(
          "Failures for one username in 15 minutes, fleet-wide and from any address, before AUTH as that username answers 454 4.7.0 for the rest of the window. Clients in an account's allowedIps need no AUTH and are unaffected.",
        ),
      insecureAuth: z
        .boolean()
        .default(false)
        .describe("Allow AUTH without TLS on non-loopback listeners (never in production)."),
      plainAuthOnLoopback: z
        .boolean()
        .default(true)
        .describe(
          "Offer AUTH before TLS on loopback listeners (nothing leaves the machine). A fleet turns it off: a relay pod's listeners are never loopback in a real cluster, and may be in tests.",
        ),
      proxyProtocolFrom: z
        .array(z.string().refine((v) => isIP(v) !== 0, "an IP address"))
        .default([])
        .describe("Accept the PROXY protocol header only from these addresses (e.g. the load balancer)."),
      minFreeBytes: z
        .number()
        .int()
        .min(0)
        .default(256 * 1024 * 1024)
        .describe("Keep free on the spool file system; below it MAIL FROM gets 452 4.3.1."),
    })
    .default({
      maxRecipients: 1000,
      maxConnections: 1000,
      maxConnectionsPerIp: 50,
      idleTimeoutSeconds: 60,
      sessionTimeoutSeconds: 1800,
      minDataRate: 500,
      dataRateGraceSeconds: 30,
      maxAuthFailuresPerConnection: 3,
      maxAuthFailuresPerIp: 20,
      maxAuthFailuresPerUsername: 100,
      insecureAuth: false,
      plainAuthOnLoopback: true,
      proxyProtocolFrom: [],
      minFreeBytes: 256 * 1024 * 1024,
    })
    .describe("The SMTP intake's limits (docs/intake.md)."),
  logLevel: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .describe("pino log level."),
  retentionDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(30)
    .describe("Days the message log and its events are kept (purged hourly)."),
  shutdown: z
    .strictObject({
      queueSeconds: z
        .number()
        .int()
        .min(0)
        .max(86_400)
        .default(0)
        .describe(
          "On SIGTERM, after the intake stops, keep delivering what can go now for up to this long (0: only attempts under way finish; the rest waits in the spool for the next start; mail that only waits for a retry time is not waited for).",
        ),
      handoffDns: z
        .string()
        .min(1)
        .max(253)
        .optional()
        .describe(
          'Then hand what is left to the relays at this name\'s addresses (the other relays of the pool, e.g. the headless Service "pool-relays.ns.svc", which lists ready relays only), so a spool that is not coming back (an emptyDir) loses nothing.',
        ),
      handoffPort: z.number().int().min(1).max(65_535).default(8081).describe("Their API port."),
    })
    .default({ queueSeconds: 0, handoffPort: 8081 })
    .describe("What a relay does with its queue when it stops (SIGTERM)."),
  scheduler: z
    .strictObject({
      maxDeliveries: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(200)
        .describe(
          'Deliveries in flight at once, per relay, in all lanes (docs/configuration.md, "Delivery slots").',
        ),
      dedicatedReserve: z
        .number()
        .int()
        .min(0)
        .max(100_000)
        .default(32)
        .describe(
          "Of maxDeliveries, reserved for each `lane: dedicated` account, while the reserves leave the shared lane minSharedShare; past it every reserve shrinks alike.",
        ),
      minSharedShare: z
        .number()
        .min(0)
        .max(1)
        .default(0.5)
        .describe(
          "The least share of maxDeliveries (0 to 1) the shared lane, which every account uses, keeps however many accounts are dedicated.",
        ),
      maxPerDomain: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(20)
        .describe(
          "Deliveries in flight per recipient domain when delivering direct to its MX hosts (Postfix's default destination limit); through a smart host its sender's maxConnections caps them instead.",
        ),
    })
    .default({ maxDeliveries: 200, dedicatedReserve: 32, minSharedShare: 0.5, maxPerDomain: 20 })
    .describe("Delivery concurrency: the lanes accounts share and the caps per destination."),
  copies: z
    .strictObject({
      timeoutSeconds: z
        .number()
        .min(0.1)
        .max(3600)
        .default(30)
        .describe(
          "A copy's deadline in its worker thread, plus secondsPerMiB per MiB of the message (wall-clock time while its worker works on it alone); past it the message is quarantined (dataDir/spool/quarantine) and its sender told.",
        ),
      secondsPerMiB: z
        .number()
        .min(0)
        .max(60)
        .default(0.5)
        .describe("Added to timeoutSeconds per MiB of the message."),
      spareWorkers: z
        .number()
        .int()
        .min(0)
        .max(16)
        .default(2)
        .describe(
          "While every worker is stuck on a copy for spareAfterSeconds, up to this many more are started so other mail keeps moving.",
        ),
      spareAfterSeconds: z
        .number()
        .min(0.05)
        .max(600)
        .default(1)
        .describe("How long every worker must be stuck before spare workers start."),
    })
    .default({ timeoutSeconds: 30, secondsPerMiB: 0.5, spareWorkers: 2, spareAfterSeconds: 1 })
    .describe("Per-recipient copies, each made in a worker thread (docs/poison.md)."),
  tracking: z
    .strictObject({
      trustForwardedFrom: z
        .array(z.string().refine(isIpOrCidr, "an IP address or CIDR range such as 10.0.0.0/8"))
        .default([])
        .describe(
          "Proxies (IPs or CIDR ranges: the ingress or load balancer in front of the tracking Service) whose X-Forwarded-For is believed, so opens and clicks carry the reader's address (GeoIP, bot detection) and not the proxy's. None by default: the header is ignored, since anyone can send it.",
        ),
      maxEventsPerIpPerMinute: z
        .number()
        .int()
        .min(0)
        .default(600)
        .describe(
          "Pixel and click hits recorded per client address (an IPv6 /64 is one) per minute, per relay; past it they are still answered (GIF, redirect), not recorded. Mail-provider image proxies (Gmail, Apple) fetch for many readers from few addresses, so keep it generous. Private addresses (a proxy whose X-Forwarded-For is not trusted) count per token only. 0: no limit.",
        ),
      maxEventsPerTokenPerMinute: z
        .number()
        .int()
        .min(0)
        .default(20)
        .describe("Hits recorded per token (one recipient's pixel, or one link) per minute; 0: no limit."),
    })
    .default({ trustForwardedFrom: [], maxEventsPerIpPerMinute: 600, maxEventsPerTokenPerMinute: 20 })
    .describe("The tracking listener (pixel, clicks, unsubscribes)."),
  webhooks: z
    .strictObject({
      allowPrivateTargets: z
        .array(z.string().refine(isIpOrCidr, "an IP address or CIDR range such as 10.0.0.0/8"))
        .default([])
        .describe(
          'Private, loopback and link-local addresses a webhook may reach (IPs or CIDR ranges, e.g. "10.0.0.0/8" for a receiver in the cluster); every other non-public target is refused (SSRF).',
        ),
      maxOutstandingPerAccount: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(10_000)
        .describe(
          'Deliveries an account may have waiting in the outbox (claimed ones included); past it the oldest are dropped and counted (relayfleet_webhook_deliveries_total{result="dropped"}).',
        ),
      leaseSeconds: z
        .number()
        .int()
        .min(15)
        .max(3600)
        .default(60)
        .describe(
          "How long a relay's claim on a delivery holds: a relay that dies mid-POST has its deliveries sent again by any relay this long after it claimed them. Well over the 10 s POST timeout.",
        ),
    })
    .default({ allowPrivateTargets: [], maxOutstandingPerAccount: 10_000, leaseSeconds: 60 })
    .describe("Outbound webhooks (relay/webhooks/README.md)."),
  // --- feedback (relay/feedback/README.md) ---
  bounceDomain: z
    .string()
    .toLowerCase()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/,
      "a domain name",
    )
    .optional()
    .describe(
      "Bounces and complaints coming back: each delivered copy leaves with the return path PREFIX+TOKEN@bounceDomain, and the relay takes mail for this domain without AUTH (only for a valid token, or at a feedback.loopAddresses local part; never relayed). Absent: off, copies keep the sender's own return path. Point the domain's MX at the relay fleet.",
    ),
  feedback: z
    .strictObject({
      prefix: z
        .string()
        .regex(/^[a-z0-9][a-z0-9._-]{0,14}$/, "1-15 lower-case letters, digits or ._-")
        .default("bounces")
        .describe("Local-part prefix of return paths (lower-case, at most 15 characters)."),
      loopAddresses: z
        .array(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "a plain local part"))
        .default([])
        .describe("Local parts at bounceDomain registered with ISP feedback loops; taken without a token."),
      maxBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(10 * 1024 * 1024)
        .describe("Larger reports are refused (552 5.3.4)."),
      maxKeptFiles: z
        .number()
        .int()
        .min(1)
        .default(10_000)
        .describe(
          "Most files kept under dataDir/feedback/inspect (unreadable feedback); past it the oldest go.",
        ),
      maxKeptBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(256 * 1024 * 1024)
        .describe(
          "Most bytes kept there (it shares the spool's volume: a full disk refuses all mail); past it the oldest files go. At least maxBytes, so the newest report always fits.",
        ),
      keepDays: z
        .number()
        .min(0.0001)
        .max(3650)
        .default(7)
        .describe("Kept files older than this are removed (at start and hourly)."),
      maxReportsPerIpPerMinute: z
        .number()
        .int()
        .min(1)
        .default(60)
        .describe(
          "Reports (transactions to the bounce domain) taken per client address (an IPv6 /64 is one) per minute, per relay, from sessions without AUTH; past it RCPT answers 450 4.7.0.",
        ),
      maxConcurrentReports: z
        .number()
        .int()
        .min(1)
        .default(32)
        .describe(
          "Reports received at once, per relay (each is written to dataDir/feedback/incoming while it arrives, up to maxBytes); past it DATA answers 451 4.3.2 and the sender retries.",
        ),
    })
    .refine((feedback) => feedback.maxKeptBytes >= feedback.maxBytes, {
      message: "maxKeptBytes must be at least maxBytes (the newest report must fit)",
      path: ["maxKeptBytes"],
    })
    .default({
      prefix: "bounces",
      loopAddresses: [],
      maxBytes: 10 * 1024 * 1024,
      maxKeptFiles: 10_000,
      maxKeptBytes: 256 * 1024 * 1024,
      keepDays: 7,
      maxReportsPerIpPerMinute: 60,
      maxConcurrentReports: 32,
    })
    .describe("Bounce and complaint reports taken at bounceDomain (relay/feedback/README.md)."),
  // --- end feedback ---
  routes: z
    .record(z.string().min(1), routeTableSchema)
    .default({})
    .describe(
      "Static route tables by name; a standalone relay (embedded store) with none gets a default table that delivers direct to MX.",
    ),
  defaultRoute: z
    .string()
    .min(1)
    .max(253)
    .default("default")
    .describe(
      'The route table for accounts whose route is "default" (every account that names none). The operator sets it to the pool\'s SenderRoute, published as "namespace/name".',
    ),
  accounts: z
    .array(accountInputSchema)
    .default([])
    .describe("Accounts upserted at start (passwords are hashed before storing)."),
});

export const relayConfigSchema = relayConfigFields.superRefine((config, context) => {
  if (config.listen.smtps.length > 0 && !config.tls)
    context.addIssue({
      code: "custom",
      path: ["listen", "smtps"],
      message: "implicit-TLS listeners need tls: { cert, key }",
    });
});

export type RelayConfigInput = z.input<typeof relayConfigSchema>;
export type RelayConfig = z.output<typeof relayConfigSchema>;
