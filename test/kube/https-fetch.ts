/**
 * fetch() for tests that talk to the test API server by hand: Node's global
 * fetch cannot be given a CA per request, so this goes through node:https
 * with the server's CA and hands back a standard Response (streamed, so
 * watches can be read as they arrive).
 */
import { request } from "node:https";
import { Readable } from "node:stream";

export interface HttpsFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Bearer token; default the server's admin token, null for none. */
  token?: string | null;
}

export function httpsFetch(
  server: { url: string; ca: string; adminToken: string },
  path: string,
  init: HttpsFetchInit = {},
): Promise<Response> {
  const token = init.token === undefined ? server.adminToken : init.token;
  const headers: Record<string, string> = {
    ...(token !== null ? { Authorization: `Bearer ${token}` } : {}),
    ...init.headers,
  };
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, server.url),
      {
        method: init.method ?? "GET",
        headers,
        ca: server.ca,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (incoming) => {
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(incoming.headers)) {
          for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value])
            responseHeaders.append(key, item);
        }
        const body = Readable.toWeb(incoming) as ReadableStream<Uint8Array>;
        resolve(new Response(body, { status: incoming.statusCode ?? 0, headers: responseHeaders }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(init.body);
  });
}
