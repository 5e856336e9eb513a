/**
 * The API listener's lifecycle endpoints: /healthz (the process is alive),
 * /readyz (it takes mail: not draining, store reachable) and
 * POST /v1/admin/drain (stop taking mail, finish what is in progress),
 * POST /v1/admin/handoff {"targets": [URL...]} (a draining relay hands its
 * queue to other relays of the pool) and POST /v1/admin/spool (take one
 * handed-over message; relay/spool/handoff.ts).
 * They sit in the endpoint table beside the reporting API, behind the same
 * bearer check (auth.ts), but are not part of the documented API: the probes,
 * the operator and other relays call them, not API clients.
 */
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import { HandoffRefused } from "../spool/handoff.js";
import { defineEndpoint, type Endpoint } from "./endpoint.js";
import type { Reply } from "./http.js";

export interface LifecycleDeps {
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

/** The hand-off body as text, whatever its content type (the operator's and older callers' differ). */
async function readSmallBody(request: IncomingMessage, limit = 64 * 1024): Promise<string | undefined> {
  let text = "";
  for await (const chunk of request) {
    text += (chunk as Buffer).toString("utf8");
    if (text.length > limit) return undefined;
  }
  return text;
}

function answer(status: number, body: unknown): Reply {
  return { kind: "json", status, body };
}

const statusSchema = z.object({ status: z.string() });

const HAND_OFF_NEEDS_SHARED_STORE = answer(409, {
  error: "hand-off needs relays that share a Store (store.redis)",
});

export const lifecycleEndpoints: Endpoint[] = [
  defineEndpoint({
    method: "GET",
    pattern: "/healthz",
    access: "public",
    tag: "lifecycle",
    summary: "The process is alive (liveness probe)",
    response: { status: 200, description: "alive", schema: statusSchema },
    async handle() {
      return answer(200, { status: "ok" });
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/readyz",
    access: "public",
    tag: "lifecycle",
    summary: "The relay takes mail: not draining, store reachable (readiness probe); 503 otherwise",
    response: { status: 200, description: "ready", schema: statusSchema },
    async handle({ api }) {
      if (api.lifecycle.isDraining()) return answer(503, { status: "draining" });
      try {
        await api.lifecycle.storeReady();
        return answer(200, { status: "ready" });
      } catch (error) {
        return answer(503, { status: "store unavailable", error: (error as Error).message });
      }
    },
  }),
  defineEndpoint({
    method: "POST",
    pattern: "/v1/admin/drain",
    access: "fleet",
    tag: "lifecycle",
    summary: "Stop taking mail and finish what is in progress",
    response: { status: 200, description: "drained", schema: statusSchema },
    async handle({ api }) {
      await api.lifecycle.drain();
      return answer(200, { status: "drained" });
    },
  }),
  defineEndpoint({
    method: "POST",
    pattern: "/v1/admin/handoff",
    access: "fleet",
    tag: "lifecycle",
    summary: "Hand this draining relay's queue to the relays named in targets",
    response: { status: 202, description: "handing off", schema: statusSchema },
    async handle({ api, request }) {
      if (!api.lifecycle.sharedStore) return HAND_OFF_NEEDS_SHARED_STORE;
      // Only a relay that no longer takes mail gives its queue away.
      if (!api.lifecycle.isDraining())
        return answer(409, { error: "drain the relay first (POST /v1/admin/drain)" });
      const body = await readSmallBody(request);
      const targets = body === undefined ? undefined : parseTargets(body);
      if (!targets)
        return answer(400, {
          error: 'body: {"targets": ["http://HOST:PORT", ...]} (1 to 64 relay API URLs)',
        });
      api.lifecycle.handOff(targets);
      return answer(202, { status: "handing off", targets });
    },
  }),
  defineEndpoint({
    method: "POST",
    pattern: "/v1/admin/spool",
    access: "fleet",
    tag: "lifecycle",
    summary: "Take one message handed over by a draining relay (relay/spool/handoff.ts)",
    response: { status: 200, description: "taken", schema: statusSchema },
    async handle({ api, request }) {
      if (!api.lifecycle.sharedStore) return HAND_OFF_NEEDS_SHARED_STORE;
      // A draining relay takes nothing new, handed over or not.
      if (api.lifecycle.isDraining()) return answer(503, { error: "draining" });
      try {
        const taken = await api.lifecycle.takeHandoff(request);
        return answer(200, { status: taken.duplicate ? "already here" : "taken", id: taken.id });
      } catch (error) {
        if (error instanceof HandoffRefused) return answer(error.status, { error: error.message });
        throw error;
      }
    },
  }),
];
