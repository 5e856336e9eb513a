/**
 * What kube-proxy does for a Service, for the fleet on one machine: a TCP
 * listener that hands each connection to the next ready backend, round
 * robin. The pool's tracking Service (port 80 → the pods' "tracking" port)
 * is played by one of these, so the tracking base URL written into every
 * delivered copy points at something real that follows the ready relays.
 */
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";

export interface ServiceBalancer {
  url: string;
  /** Connections handed on so far, by backend "host:port". */
  handedTo: Map<string, number>;
  stop(): Promise<void>;
}

export async function startServiceBalancer(options: {
  host: string;
  port: number;
  /** The ready backends now, as "host:port"; read for every connection. */
  backends: () => string[];
}): Promise<ServiceBalancer> {
  const handedTo = new Map<string, number>();
  const open = new Set<Socket>();
  let turn = 0;
  const server = createServer((client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    const backends = options.backends();
    const backend = backends[turn++ % Math.max(1, backends.length)];
    if (!backend) {
      // No ready endpoint: a real Service refuses the connection too.
      client.resetAndDestroy();
      return;
    }
    handedTo.set(backend, (handedTo.get(backend) ?? 0) + 1);
    const [host, port] = backend.split(":") as [string, string];
    const upstream = connect({ host, port: Number(port) });
    open.add(upstream);
    upstream.once("close", () => open.delete(upstream));
    const endBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", endBoth);
    upstream.on("error", endBoth);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(options.port, options.host);
  await once(server, "listening");
  return {
    url: `http://${options.host}:${options.port}`,
    handedTo,
    async stop() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
