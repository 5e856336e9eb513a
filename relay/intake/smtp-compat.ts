/**
 * Adjustments to smtp-server's connections, applied to each as it is
 * accepted (the library has no option for any of them):
 *
 * - Our replies carry their own enhanced status code (RELAY_ERRORS, and
 *   "2.0.0 Ok: queued as ID": docs/reference/smtp-replies.md). smtp-server would put its
 *   generic code in front of it; when the text already starts with one, the
 *   library's is left out.
 * - A 421 reply means "closing the channel" (RFC 5321 §3.8): after sending
 *   one, the connection is closed.
 * - smtp-server waits a fixed 100 ms before its banner to catch early talkers
 *   (spam bots on port 25). A client that sends one message per connection is
 *   capped near 10 messages/s per connection by that alone, so the wait is
 *   per listener: kept on port 25, off on submission ports, where clients are
 *   known and authenticated.
 * - AUTH is offered and accepted per connection as `authAllowed` decides
 *   (relay/intake/auth-policy.ts): left out of EHLO and answered 530 5.7.0
 *   until the session is TLS. smtp-server's own rule only applies when
 *   STARTTLS is enabled, and answers a non-standard 538; the server is built
 *   with allowInsecureAuth so that this one rule decides.
 */
import type { SMTPServer } from "smtp-server";
import { RelayError } from "../errors.js";

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

type Send = (code: number, data?: string | string[] | null, context?: string | false) => void;

type Handler = (command: Buffer | string, callback: () => void) => void;

interface PatchableConnection {
  send: Send;
  secure: boolean;
  handler_EHLO: Handler;
  handler_AUTH: Handler;
  _isSupported(command: string): boolean;
  close(): void;
  init(): void;
  connectionReady(): void;
  _setListeners(callback: () => void): void;
  _server: { connections: Set<unknown>; options: { maxClients?: number; name?: string } };
}

export interface ConnectionAdjustments {
  greetingDelayMs: number;
  /** Whether AUTH may be offered now; `secure` is true once the session is TLS (smtps or after STARTTLS). */
  authAllowed(connection: { secure: boolean }): boolean;
  /** Called when AUTH is refused for want of TLS (for the rejections metric). */
  onAuthRefused?(error: RelayError): void;
}

const STARTTLS_FIRST = new RelayError("tls_required", "Must issue a STARTTLS command first");

export function adjustConnections(server: SMTPServer, options: ConnectionAdjustments): void {
  const connections = server.connections as unknown as Set<PatchableConnection>;
  const add = connections.add.bind(connections);
  connections.add = (connection: PatchableConnection) => {
    const send = connection.send.bind(connection);
    connection.send = (code, data, context) => {
      const own = typeof data === "string" && ENHANCED_CODE.test(data);
      send(code, data, own ? false : context);
      if (code === 421) setImmediate(() => connection.close());
    };
    gateAuth(connection, options);
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

function gateAuth(connection: PatchableConnection, options: ConnectionAdjustments): void {
  // EHLO lists AUTH when _isSupported("AUTH") says so; hide it while a refused EHLO is answered.
  let hideAuth = false;
  const isSupported = connection._isSupported.bind(connection);
  connection._isSupported = (command) =>
    hideAuth && command.trim().toUpperCase() === "AUTH" ? false : isSupported(command);
  const ehlo = connection.handler_EHLO.bind(connection);
  connection.handler_EHLO = (command, callback) => {
    hideAuth = !options.authAllowed(connection);
    try {
      ehlo(command, callback);
    } finally {
      hideAuth = false;
    }
  };
  const auth = connection.handler_AUTH.bind(connection);
  connection.handler_AUTH = (command, callback) => {
    if (options.authAllowed(connection)) return auth(command, callback);
    options.onAuthRefused?.(STARTTLS_FIRST);
    connection.send(STARTTLS_FIRST.responseCode, STARTTLS_FIRST.message);
    callback();
  };
}
