/**
 * The API listener (docs/reference/api.md): one endpoint table holding the
 * lifecycle endpoints (endpoints-lifecycle.ts) and the admin and reporting
 * calls, behind one bearer check (auth.ts), plus the OpenAPI document.
 *
 * Plain node:http with a small endpoint table: about twenty calls, each a
 * validate-load-answer handler, gain little from a framework, and the
 * reporting part of the table doubles as the OpenAPI source.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, type Registry } from "prom-client";
import { isConsolePath, serveConsole } from "../console/serve.js";
import { type Logger, silentLogger } from "../log/logger.js";
import type { Store } from "../store/types.js";
import { StoreError } from "../store/types.js";
import { targetCheck } from "../webhooks/targets.js";
import { authenticate } from "./auth.js";
import type { Endpoint } from "./endpoint.js";
import { matchEndpoint } from "./endpoint-match.js";
import { accountEndpoints } from "./endpoints-accounts.js";
import { type LifecycleDeps, lifecycleEndpoints } from "./endpoints-lifecycle.js";
import { logEndpoints } from "./endpoints-log.js";
import { type QuarantineAccess, quarantineEndpoints } from "./endpoints-quarantine.js";
import { suppressionEndpoints } from "./endpoints-suppressions.js";
import { webhookEndpoints } from "./endpoints-webhooks.js";
import { ApiError, writeError, writeReply } from "./http.js";
import { openApiDocument } from "./openapi.js";

/** The admin and reporting API: what /v1/openapi.json documents. */
export const API_ENDPOINTS: readonly Endpoint[] = [
  ...accountEndpoints,
  ...suppressionEndpoints,
  ...logEndpoints,
  ...webhookEndpoints,
  ...quarantineEndpoints,
];

/** Every endpoint the listener answers. */
const ENDPOINTS: readonly Endpoint[] = [...lifecycleEndpoints, ...API_ENDPOINTS];

export interface ApiDeps {
  store: Store;
  apiToken: string;
  lifecycle: LifecycleDeps;
  /** The relay's registry: API requests are counted there by route and status. */
  registry?: Registry;
  logger?: Logger;
  now?: () => number;
  /** Private or loopback ranges a webhook may name (config webhooks.allowPrivateTargets); none by default. */
  allowPrivateWebhookTargets?: readonly string[];
  /** This relay's quarantine (GET /v1/admin/quarantine). */
  quarantine?: QuarantineAccess;
}

const REQUESTS_METRIC = "relayfleet_api_requests_total";

function requestCounter(registry: Registry | undefined): Counter<"route" | "status"> | undefined {
  if (!registry) return undefined;
  const existing = registry.getSingleMetric(REQUESTS_METRIC);
  if (existing) return existing as Counter<"route" | "status">;
  return new Counter({
    name: REQUESTS_METRIC,
    help: "API requests by route pattern and HTTP status",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
}

export function createApiHandler(deps: ApiDeps) {
  const logger = deps.logger ?? silentLogger();
  const api = {
    store: deps.store,
    now: deps.now ?? Date.now,
    webhookTargets: targetCheck(deps.allowPrivateWebhookTargets ?? []),
    ...(deps.quarantine ? { quarantine: deps.quarantine } : {}),
    lifecycle: deps.lifecycle,
  };
  const requests = requestCounter(deps.registry);
  let openApiText: string | undefined;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<string> {
    const url = new URL(request.url ?? "/", "http://api.invalid");
    // The web console's static page (relay/console); it calls the API below with the user's token.
    if (isConsolePath(url.pathname)) {
      await serveConsole(request, response);
      return "/console";
    }
    if (url.pathname === "/v1/openapi.json") {
      if (request.method !== "GET" && request.method !== "HEAD")
        throw new ApiError("method_not_allowed", "use GET");
      openApiText ??= `${JSON.stringify(openApiDocument(API_ENDPOINTS), null, 2)}\n`;
      response.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-cache",
      });
      response.end(openApiText);
      return url.pathname;
    }
    const match = matchEndpoint(ENDPOINTS, request.method ?? "GET", url.pathname);
    if (match.kind === "bad_encoding")
      throw new ApiError("invalid_request", "the path is not valid percent-encoding");
    if (match.kind === "none") throw new ApiError("not_found", `no such call: ${url.pathname}`);
    if (match.kind === "method") {
      throw new ApiError("method_not_allowed", `use ${match.allowed.join(" or ")}`, [], {
        allow: match.allowed.join(", "),
      });
    }
    const principal = await authenticate(match.endpoint.access, request, deps.apiToken, deps.store);
    const reply = await match.endpoint.run({ request, url, params: match.params, principal, api });
    writeReply(request, response, reply, url);
    return match.endpoint.pattern;
  }

  return (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response)
      .then((route) => requests?.inc({ route, status: String(response.statusCode) }))
      .catch((error: unknown) => {
        const apiError = toApiError(error);
        if (apiError.status >= 500)
          logger.error({ err: error, url: request.url?.slice(0, 200) }, "API request failed");
        if (!response.headersSent) writeError(response, apiError);
        else response.end();
        requests?.inc({ route: routeLabel(request), status: String(apiError.status) });
        // A body we refused may still be arriving; let the client see the answer, then close.
        if (!request.complete) request.resume();
      });
  };
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof StoreError) {
    if (error.code === "not_found") return new ApiError("not_found", error.message);
    if (error.code === "invalid") return new ApiError("invalid_request", error.message);
    if (error.code === "conflict") return new ApiError("conflict", error.message);
    return new ApiError("unavailable", "the store is unavailable; try again");
  }
  return new ApiError("internal", "internal error");
}

/** The matched pattern when there is one, so the metric's labels stay bounded. */
function routeLabel(request: IncomingMessage): string {
  const path = (request.url ?? "/").split("?")[0] ?? "/";
  const match = matchEndpoint(ENDPOINTS, request.method ?? "GET", path);
  if (match.kind === "found") return match.endpoint.pattern;
  return match.kind === "method" ? match.pattern : "unmatched";
}
