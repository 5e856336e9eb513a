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
 */
import type { SMTPServer } from "smtp-server";

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

type Send = (code: number, data?: string | string[] | null, context?: string | false) => void;

interface PatchableConnection {
  send: Send;
  close(): void;
}

export function adjustReplies(server: SMTPServer): void {
  const connections = server.connections as unknown as Set<PatchableConnection>;
  const add = connections.add.bind(connections);
  connections.add = (connection: PatchableConnection) => {
    const send = connection.send.bind(connection);
    connection.send = (code, data, context) => {
      const own = typeof data === "string" && ENHANCED_CODE.test(data);
      send(code, data, own ? false : context);
      if (code === 421) setImmediate(() => connection.close());
    };
    return add(connection);
  };
}
