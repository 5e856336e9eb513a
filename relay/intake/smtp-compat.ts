/**
 * Two adjustments to smtp-server's replies, applied per connection as it is
 * accepted (the library has no option for either):
 *
 * - Our replies carry their own enhanced status code (RELAY_ERRORS, and
 *   "2.0.0 Ok: queued as ID" from CONTRACT.md). smtp-server would put its
 *   generic code in front of it; when the text already starts with one, the
 *   library's is left out.
 * - A 421 reply means "closing the channel" (RFC 5321 §3.8): after sending
 *   one, the connection is closed.
 * - smtp-server waits a fixed 100 ms before its banner to catch early talkers
 *   (spam bots on port 25). A client that sends one message per connection is
 *   capped near 10 messages/s per connection by that alone, so the wait is
 *   per listener: kept on port 25, off on submission ports, where clients are
 *   known and authenticated (DESIGN.md, "Things already learned about speed").
 */
import type { SMTPServer } from "smtp-server";

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

type Send = (code: number, data?: string | string[] | null, context?: string | false) => void;

interface PatchableConnection {
  send: Send;
  close(): void;
  init(): void;
  connectionReady(): void;
  _setListeners(callback: () => void): void;
  _server: { connections: Set<unknown>; options: { maxClients?: number; name?: string } };
}

export function adjustConnections(server: SMTPServer, options: { greetingDelayMs: number }): void {
  const connections = server.connections as unknown as Set<PatchableConnection>;
  const add = connections.add.bind(connections);
  connections.add = (connection: PatchableConnection) => {
    const send = connection.send.bind(connection);
    connection.send = (code, data, context) => {
      const own = typeof data === "string" && ENHANCED_CODE.test(data);
      send(code, data, own ? false : context);
      if (code === 421) setImmediate(() => connection.close());
    };
    if (options.greetingDelayMs !== 100) {
      // The library's init() with its own fixed delay replaced by ours.
      connection.init = () => {
        connection._setListeners(() => {
          const { maxClients, name } = connection._server.options;
          if (maxClients && connection._server.connections.size > maxClients) {
            return connection.send(421, `${name} Too many connected clients, try again in a moment`, false);
          }
          if (options.greetingDelayMs <= 0) connection.connectionReady();
          else setTimeout(() => connection.connectionReady(), options.greetingDelayMs).unref();
        });
      };
    }
    return add(connection);
  };
}
