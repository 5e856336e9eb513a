/**
 * The public tracking server:
 *
 *   GET  /o/TOKEN.gif   open pixel: always the GIF, never cached
 *   GET  /c/TOKEN       302 to the URL signed into the token, and nowhere else
 *   GET  /u/TOKEN       a page with a confirm button; a GET alone never unsubscribes
 *   POST /u/TOKEN       the button, and RFC 8058 one-click: onto the account's unsubscribe list
 *
 * A token that does not verify, or names the wrong kind for the path, gets 404:
 * there is no fallback that reads a URL from the query (that would be an open redirect).
 * Recording is best effort for the pixel and the redirect (the reader gets the
 * image or the link even when the store is down, or past the recording limits
 * per token and per client, which keep a flood of hits out of the Store); an
 * unsubscribe is not, since it must never claim success it did not have.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { clientKey, isPrivateAddress } from "../limits/client-key.js";
import { WindowCounter } from "../limits/window-counter.js";
import type { Logger } from "../log/logger.js";
import { silentLogger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import type { Store } from "../store/types.js";
import type { NewEvent } from "../vocabulary.js";
import { classifyClient } from "./bots.js";
import { clientAddress, proxyCheck } from "./client-address.js";
import { countryOf } from "./geoip.js";
import { confirmPage, donePage, expiredPage, notFoundPage, PIXEL_GIF } from "./pages.js";
import { type TokenKeyring, type TokenPayload, verifyToken } from "./token.js";

export interface TrackingDeps {
  store: Store;
  keys: TokenKeyring;
  metrics?: Pick<Metrics, "trackingEvents" | "trackingEventsDropped">;
  logger?: Logger;
  now?: () => number;
  /** Proxies (IPs or CIDR ranges) whose X-Forwarded-For is believed; none by default. */
  trustForwardedFrom?: readonly string[];
  /** Told of every event recorded (e.g. to feed webhooks); must not throw or block. */
  onEvent?: (event: NewEvent) => void;
  /** How many pixel and click hits are recorded per minute (the rest are answered, not recorded). */
  recordingLimits?: RecordingLimits;
}

export interface RecordingLimits {
  /** Per client address (an IPv6 /64 counts as one); 0: no limit. */
  perIpPerMinute: number;
  /** Per token (one recipient's pixel, or one of its links); 0: no limit. */
  perTokenPerMinute: number;
}

/** The config schema's defaults (relay/config/schema.ts, tracking.*). */
export const DEFAULT_RECORDING_LIMITS: RecordingLimits = { perIpPerMinute: 600, perTokenPerMinute: 20 };
/** Clients and tokens remembered by the recording limits; past it the least recently seen are forgotten. */
const RECORDING_LIMIT_KEYS = 50_000;

export type DropReason = "ip_rate" | "token_rate";

/**
 * Pure decision over the two counters: is this hit recorded, and if not, why?
 * The token is counted first, so a client replaying one token does not use up
 * its address's allowance for every other token. A private address is a
 * proxy or balancer whose X-Forwarded-For is not trusted (or the cluster
 * itself), not one reader: it is counted per token only, so a relay behind an
 * unconfigured ingress keeps recording opens.
 */
export function recordingDecision(
  counters: { byIp: WindowCounter; byToken: WindowCounter },
  limits: RecordingLimits,
  hit: { ip: string | undefined; token: string; now: number },
): DropReason | undefined {
  if (limits.perTokenPerMinute > 0 && !counters.byToken.take(hit.token, limits.perTokenPerMinute, hit.now))
    return "token_rate";
  const ip = hit.ip ?? "";
  if (
    limits.perIpPerMinute > 0 &&
    !isPrivateAddress(ip) &&
    !counters.byIp.take(clientKey(ip), limits.perIpPerMinute, hit.now)
  )
    return "ip_rate";
  return undefined;
}

/** One recipient's pixel, or one of its links: the same thing however the token was spelled or signed. */
function tokenKey(payload: TokenPayload): string {
  const link = payload.kind === "click" ? `:${payload.linkIndex}` : "";
  return `${payload.kind}:${payload.messageId}:${payload.recipient}${link}`;
}

/** Longest user agent kept with an event; the rest is noise or abuse. */
const MAX_USER_AGENT = 512;
/** An RFC 8058 body is 26 bytes; the page's form adds one field. */
const MAX_UNSUBSCRIBE_BODY = 4096;

const NO_CACHE = {
  "cache-control": "no-cache, no-store, must-revalidate, private, max-age=0",
  pragma: "no-cache",
  expires: "0",
};
const PAGE_HEADERS = {
  ...NO_CACHE,
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

type Route = { kind: "open" | "click" | "unsub"; token: string } | { kind: "healthz" } | { kind: "none" };

/** Path → what it asks for; pure. The query string is ignored everywhere. */
export function routeOf(rawUrl: string): Route {
  const path = rawUrl.split("?")[0] ?? "";
  if (path === "/healthz") return { kind: "healthz" };
  const match = /^\/([ocu])\/([A-Za-z0-9_-]+)(\.gif)?$/.exec(path);
  if (!match) return { kind: "none" };
  const [, letter, token, gif] = match as unknown as [string, string, string, string | undefined];
  if (letter === "o") return gif ? { kind: "open", token } : { kind: "none" };
  if (gif) return { kind: "none" };
  return { kind: letter === "c" ? "click" : "unsub", token };
}

/** The Location for a click: the signed URL, re-serialised so it is a valid header value. */
export function redirectTarget(payload: TokenPayload): string | undefined {
  if (payload.kind !== "click") return undefined;
  try {
    const url = new URL(payload.url);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

export function createTrackingHandler(deps: TrackingDeps) {
  const logger = deps.logger ?? silentLogger();
  const now = deps.now ?? Date.now;
  const trusted = proxyCheck(deps.trustForwardedFrom ?? []);
  const limits = deps.recordingLimits ?? DEFAULT_RECORDING_LIMITS;
  const counters = {
    byIp: new WindowCounter({ windowMs: 60_000, maxKeys: RECORDING_LIMIT_KEYS }),
    byToken: new WindowCounter({ windowMs: 60_000, maxKeys: RECORDING_LIMIT_KEYS }),
  };

  function notFound(response: ServerResponse): void {
    response.writeHead(404, PAGE_HEADERS);
    response.end(notFoundPage());
  }

  function eventFor(request: IncomingMessage, payload: TokenPayload, type: NewEvent["type"]): NewEvent {
    const ip = clientAddress(request.socket.remoteAddress, request.headers["x-forwarded-for"], trusted);
    const userAgent = request.headers["user-agent"]?.slice(0, MAX_USER_AGENT);
    const verdict = classifyClient({ method: request.method ?? "GET", userAgent, ip });
    const country = countryOf(ip);
    return {
      type,
      messageId: payload.messageId,
      recipient: payload.recipient,
      at: now(),
      ...(ip ? { ip } : {}),
      ...(userAgent ? { userAgent } : {}),
      ...(country ? { country } : {}),
      bot: verdict.bot,
      ...(verdict.reason ? { detail: `bot: ${verdict.reason}` } : {}),
      ...(payload.kind === "click" ? { url: payload.url, linkIndex: payload.linkIndex } : {}),
    };
  }

  async function record(event: NewEvent): Promise<void> {
    const result = await deps.store.recordEvent(event);
    if (!result.recorded) return;
    deps.metrics?.trackingEvents.inc({ type: event.type });
    deps.onEvent?.(event);
  }

  /**
   * For the pixel and the redirect: the reader is served whatever happens to
   * the store, and past the recording limits (a flood of hits is answered
   * the same, only not written: it must not fill the Store).
   */
  async function recordBestEffort(event: NewEvent, payload: TokenPayload): Promise<void> {
    const dropped = recordingDecision(counters, limits, {
      ip: event.ip,
      token: tokenKey(payload),
      now: event.at,
    });
    if (dropped) {
      deps.metrics?.trackingEventsDropped.inc({ reason: dropped });
      return;
    }
    try {
      await record(event);
    } catch (error) {
      logger.warn(
        { err: error, type: event.type, messageId: event.messageId },
        "tracking event not recorded",
      );
    }
  }

  async function unsubscribePage(response: ServerResponse, payload: TokenPayload, token: string) {
    const message = await deps.store.getMessage(payload.messageId);
    if (!message) {
      response.writeHead(410, PAGE_HEADERS);
      response.end(expiredPage());
      return;
    }
    const already = await deps.store.getSuppression(message.account, "unsubscribes", payload.recipient);
    response.writeHead(200, PAGE_HEADERS);
    response.end(
      confirmPage({
        address: payload.recipient,
        ...(message.subject ? { subject: message.subject } : {}),
        ...(message.from ? { sender: message.from } : {}),
        actionPath: `/u/${token}`,
        alreadyUnsubscribed: already !== undefined,
      }),
    );
  }

  async function unsubscribe(request: IncomingMessage, response: ServerResponse, payload: TokenPayload) {
    const body = await readBody(request, MAX_UNSUBSCRIBE_BODY);
    if (body === undefined) {
      response.writeHead(413, PAGE_HEADERS);
      response.end(notFoundPage());
      return;
    }
    const message = await deps.store.getMessage(payload.messageId);
    if (!message) {
      response.writeHead(410, PAGE_HEADERS);
      response.end(expiredPage());
      return;
    }
    const fromPage = new URLSearchParams(body).get("via") === "page";
    const existing = await deps.store.getSuppression(message.account, "unsubscribes", payload.recipient);
    // Idempotent: a second POST (mail clients retry; people double-click) changes nothing.
    if (!existing) {
      const event = eventFor(request, payload, "unsubscribe");
      await deps.store.addSuppression(message.account, {
        address: payload.recipient,
        list: "unsubscribes",
        reason: fromPage ? "unsubscribe page" : "one-click (RFC 8058)",
        at: event.at,
        messageId: payload.messageId,
      });
      // A POST is a person or their mail client acting: never a bot, whatever the user agent.
      await record({ ...event, bot: false, detail: fromPage ? "unsubscribe page" : "one-click" });
    }
    response.writeHead(200, PAGE_HEADERS);
    response.end(donePage(payload.recipient));
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const route = routeOf(request.url ?? "/");
    const method = request.method ?? "GET";
    if (route.kind === "healthz" && (method === "GET" || method === "HEAD")) {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("ok\n");
      return;
    }
    if (route.kind === "none" || route.kind === "healthz") return notFound(response);
    const allowed = route.kind === "unsub" ? ["GET", "HEAD", "POST"] : ["GET", "HEAD"];
    if (!allowed.includes(method)) {
      response.writeHead(405, { allow: allowed.join(", "), "content-type": "text/plain" });
      response.end("method not allowed\n");
      return;
    }
    const payload = verifyToken(deps.keys, route.token);
    if (!payload || payload.kind !== route.kind) return notFound(response);

    if (payload.kind === "open") {
      await recordBestEffort(eventFor(request, payload, "open"), payload);
      response.writeHead(200, {
        ...NO_CACHE,
        "content-type": "image/gif",
        "content-length": PIXEL_GIF.length,
      });
      response.end(PIXEL_GIF);
      return;
    }
    if (payload.kind === "click") {
      const target = redirectTarget(payload);
      if (!target) return notFound(response);
      await recordBestEffort(eventFor(request, payload, "click"), payload);
      response.writeHead(302, { ...NO_CACHE, location: target, "referrer-policy": "no-referrer" });
      response.end();
      return;
    }
    if (method === "POST") return unsubscribe(request, response, payload);
    return unsubscribePage(response, payload, route.token);
  }

  return (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: error, url: request.url?.slice(0, 64) }, "tracking request failed");
      if (!response.headersSent) {
        response.writeHead(503, { ...NO_CACHE, "content-type": "text/plain", "retry-after": "30" });
      }
      response.end("temporarily unavailable, please try again\n");
    });
  };
}

/** The body as text, or undefined when it passes `limit` bytes. */
function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    request.on("end", () => resolve(over ? undefined : Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/** Short request deadlines, since this port faces the Internet. */
export function createTrackingServer(deps: TrackingDeps): Server {
  const server = createServer(createTrackingHandler(deps));
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

export function startTrackingServer(deps: TrackingDeps, host: string, port: number): Promise<Server> {
  const server = createTrackingServer(deps);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
