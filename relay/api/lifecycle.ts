/**
 * The API listener's lifecycle endpoints: /healthz (the process is alive),
 * /readyz (it takes mail: not draining, store reachable) and
 * POST /v1/admin/drain (stop taking mail, finish what is in progress),
 * POST /v1/admin/handoff {"targets": [URL...]} (a draining relay hands its
 * queue to other relays of the pool) and POST /v1/admin/spool (take one
 * handed-over message; relay/spool/handoff.ts).
 * The reporting API mounts beside these.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HandoffRefused } from "../spool/handoff.js";

export interface LifecycleDeps {
  apiToken: string;
  isDraining: () => boolean;
  drain: () => Promise<void>;
  storeReady: () => Promise<void>;
  /** Hand-off moves messages between relays that share one Store (Redis): their log goes with them. */
  sharedStore: boolean;
  /** Starts handing the queue to `targets` (once; later calls join it). */
  handOff: (targets: string[]) => void;
  /** Takes one handed-over message; throws HandoffRefused for a bad request. */
  takeHandoff: (request: IncomingMessage) => Promise<{ id: string; duplicate: boolean }>;
}

const MAX_TARGETS = 64;

/** `{"targets": ["http://10.0.0.5:8081", ...]}`: the other relays' API addresses. */
function parseTargets(body: string): string[] | undefined {
  try {
    const parsed = JSON.parse(body) as { targets?: unknown };
    const targets = parsed.targets;
    if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_TARGETS) return undefined;
    const urls = targets.map((t) => (typeof t === "string" ? new URL(t) : undefined));
    if (urls.some((u) => !u || (u.protocol !== "http:" && u.protocol !== "https:"))) return undefined;
    return urls.map((u) => (u as URL).origin);
  } catch {
    return undefined;
  }
}

async function readSmallBody(request: IncomingMessage, limit = 64 * 1024): Promise<string | undefined> {
  let text = "";
  for await (const chunk of request) {
    text += (chunk as Buffer).toString("utf8");
    if (text.length > limit) return undefined;
  }
  return text;
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
  if (path === "/v1/admin/handoff" || path === "/v1/admin/spool") {
    if (request.method !== "POST") {
      json(response, 405, { error: "use POST" });
      return true;
    }
    if (!bearerMatches(request, deps.apiToken)) {
      json(response, 401, { error: "admin token required" });
      return true;
    }
    if (!deps.sharedStore) {
      json(response, 409, { error: "hand-off needs relays that share a Store (store.redis)" });
      return true;
    }
    if (path === "/v1/admin/handoff") {
      // Only a relay that no longer takes mail gives its queue away.
      if (!deps.isDraining()) {
        json(response, 409, { error: "drain the relay first (POST /v1/admin/drain)" });
        return true;
      }
      const body = await readSmallBody(request);
      const targets = body === undefined ? undefined : parseTargets(body);
      if (!targets) {
        json(response, 400, {
          error: 'body: {"targets": ["http://HOST:PORT", ...]} (1 to 64 relay API URLs)',
        });
        return true;
      }
      deps.handOff(targets);
      json(response, 202, { status: "handing off", targets });
      return true;
    }
    // A draining relay takes nothing new, handed over or not.
    if (deps.isDraining()) {
      json(response, 503, { error: "draining" });
      return true;
    }
    try {
      const taken = await deps.takeHandoff(request);
      json(response, 200, { status: taken.duplicate ? "already here" : "taken", id: taken.id });
    } catch (error) {
      if (error instanceof HandoffRefused) json(response, error.status, { error: error.message });
      else throw error;
    }
    return true;
  }
  return false;
}
