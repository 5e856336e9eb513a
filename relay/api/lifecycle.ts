/**
 * The API listener's lifecycle endpoints: /healthz (the process is alive),
 * /readyz (it takes mail: not draining, store reachable) and
 * POST /v1/admin/drain (stop taking mail, finish what is in progress).
 * The reporting API mounts beside these.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface LifecycleDeps {
  apiToken: string;
  isDraining: () => boolean;
  drain: () => Promise<void>;
  storeReady: () => Promise<void>;
}

export function bearerMatches(request: IncomingMessage, token: string): boolean {
  const header = request.headers.authorization ?? "";
  const given = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(`${JSON.stringify(body)}\n`);
}

/** Answers lifecycle requests; returns false for anything else. */
export async function handleLifecycle(
  request: IncomingMessage,
  response: ServerResponse,
  deps: LifecycleDeps,
): Promise<boolean> {
  const path = (request.url ?? "/").split("?")[0];
  if (request.method === "GET" && path === "/healthz") {
    json(response, 200, { status: "ok" });
    return true;
  }
  if (request.method === "GET" && path === "/readyz") {
    if (deps.isDraining()) {
      json(response, 503, { status: "draining" });
      return true;
    }
    try {
      await deps.storeReady();
      json(response, 200, { status: "ready" });
    } catch (error) {
      json(response, 503, { status: "store unavailable", error: (error as Error).message });
    }
    return true;
  }
  if (path === "/v1/admin/drain") {
    if (request.method !== "POST") {
      json(response, 405, { error: "use POST" });
    } else if (!bearerMatches(request, deps.apiToken)) {
      json(response, 401, { error: "admin token required" });
    } else {
      await deps.drain();
      json(response, 200, { status: "drained" });
    }
    return true;
  }
  return false;
}
