/**
 * The relay's metrics: a private prom-client Registry (never the global
 * default), every name prefixed `relayfleet_` (all listed in docs/reference/metrics.md).
 * One `Metrics` object is created per process and passed down.
 */
import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "relayfleet_process_" });
  const registers = [registry];
  return {
    registry,
    sessions: new Counter({
      name: "relayfleet_smtp_sessions_total",
      help: "SMTP connections accepted by the intake",
      registers,
    }),
    activeSessions: new Gauge({
      name: "relayfleet_smtp_sessions_active",
      help: "SMTP connections open now",
      registers,
    }),
    messagesAccepted: new Counter({
      name: "relayfleet_messages_accepted_total",
      help: "Messages accepted (250 after the spool fsync), by account",
      labelNames: ["account"] as const,
      registers,
    }),
    rejections: new Counter({
      name: "relayfleet_smtp_rejections_total",
      help: "SMTP commands refused, by reason",
      labelNames: ["reason"] as const,
      registers,
    }),
    deliveries: new Counter({
      name: "relayfleet_deliveries_total",
      help: "Delivery attempts by result: delivered, deferred, bounced, blocked",
      labelNames: ["result"] as const,
      registers,
    }),
    queueMessages: new Gauge({
      name: "relayfleet_queue_messages",
      help: "Messages in the spool, by state",
      labelNames: ["state"] as const,
      registers,
    }),
    queueOldestSeconds: new Gauge({
      name: "relayfleet_queue_oldest_seconds",
      help: "Age of the oldest message waiting in the spool",
      registers,
    }),
    deliveryLatency: new Histogram({
      name: "relayfleet_delivery_latency_seconds",
      help: "End of DATA to delivered at the next hop",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600],
      registers,
    }),
    processing: new Histogram({
      name: "relayfleet_processing_seconds",
      help: "Transform time per recipient copy",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    trackingEvents: new Counter({
      name: "relayfleet_tracking_events_total",
      help: "Tracking events recorded, by type",
      labelNames: ["type"] as const,
      registers,
    }),
    trackingEventsDropped: new Counter({
      name: "relayfleet_tracking_events_dropped_total",
      help: "Pixel and click hits answered but not recorded, by reason (ip_rate, token_rate: past tracking.maxEventsPer*PerMinute)",
      labelNames: ["reason"] as const,
      registers,
    }),
    blockedPairs: new Gauge({
      name: "relayfleet_blocked_pairs",
      help: "Blocked (sender, domain) pairs in force",
      registers,
    }),
    tlsReloads: new Counter({
      name: "relayfleet_tls_reloads_total",
      help: "Renewed TLS certificates taken into use without a restart",
      registers,
    }),
    tlsReloadFailures: new Counter({
      name: "relayfleet_tls_reload_failures_total",
      help: "Changed TLS certificate or key files refused (unreadable, not PEM, key not matching); the old certificate stays",
      registers,
    }),
    tlsCertificateExpiry: new Gauge({
      name: "relayfleet_tls_certificate_expiry_seconds",
      help: "notAfter of the certificate the SMTP listeners present, as unix time, by tls.cert file (absent without tls)",
      // Labelled so that a relay without tls shows no series rather than an expiry of 0.
      labelNames: ["file"] as const,
      registers,
    }),
    quarantined: new Counter({
      name: "relayfleet_quarantined_total",
      help: "Messages taken out of the queue into the quarantine, by reason: copy_deadline, copy_crash, crash_loop",
      labelNames: ["reason"] as const,
      registers,
    }),
    malformedHeaderBlocks: new Counter({
      name: "relayfleet_malformed_header_blocks_total",
      help: "Messages accepted whose header block has a line that is neither a field nor a continuation: delivered as they came, DKIM and Received aside",
      registers,
    }),
    spoolFsyncBatch: new Histogram({
      name: "relayfleet_spool_fsync_batch_size",
      help: "Messages made durable by one group commit",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
  };
}

/** Serves GET /metrics from the registry. */
export function startMetricsServer(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method === "GET" && request.url?.split("?")[0] === "/metrics") {
      metrics.registry.metrics().then(
        (text) => {
          response.writeHead(200, { "content-type": metrics.registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(500, { "content-type": "text/plain" });
          response.end(String(error));
        },
      );
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not found\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
