/**
 * The operator's own metrics (a private prom-client Registry, `relayfleet_operator_`
 * prefix) and its health endpoints: /healthz (alive), /readyz (the leader's
 * watches have listed once; a standby is ready too), /metrics.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry } from "prom-client";

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

export function createOperatorMetrics() {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: "relayfleet_operator_reconciles_total",
      help: "Reconciles by kind and result (success, error, requeue)",
      labelNames: ["kind", "result"] as const,
      registers,
    }),
    desiredReplicas: new Gauge({
      name: "relayfleet_operator_desired_replicas",
      help: "Replicas the operator wants per RelayPool",
      labelNames: ["namespace", "pool"] as const,
      registers,
    }),
    blockedPairs: new Gauge({
      name: "relayfleet_operator_blocked_pairs",
      help: "Blocked (sender, domain) pairs routed around, per SenderRoute",
      labelNames: ["namespace", "route"] as const,
      registers,
    }),
    blocks: new Counter({
      name: "relayfleet_operator_blocks_total",
      help: "Blocked pairs turned into failover routes",
      labelNames: ["namespace", "route"] as const,
      registers,
    }),
    releases: new Counter({
      name: "relayfleet_operator_block_releases_total",
      help: "Blocked pairs released after blocking.holdSeconds",
      labelNames: ["namespace", "route"] as const,
      registers,
    }),
    drains: new Counter({
      name: "relayfleet_operator_drains_total",
      help: "Relays drained before removal, by outcome (empty, handoff: its queue went to the other relays, deadline: mail left on its volume)",
      labelNames: ["outcome"] as const,
      registers,
    }),
    leader: new Gauge({
      name: "relayfleet_operator_leader",
      help: "1 while this replica holds the leader Lease",
      registers,
    }),
  };
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: {
  host?: string;
  port: number;
  metrics: OperatorMetrics;
  ready: () => boolean;
}): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ready = options.ready();
      response
        .writeHead(ready ? 200 : 503, { "content-type": "text/plain" })
        .end(ready ? "ok\n" : "not ready\n");
    } else if (path === "/metrics") {
      options.metrics.registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": options.metrics.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? "0.0.0.0", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
