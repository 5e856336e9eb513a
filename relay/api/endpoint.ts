/**
 * One endpoint of the API listener: method, path, who may call it, its query
 * and body schemas, and its handler. The same definition validates requests
 * and writes the OpenAPI document (openapi.ts), so the two cannot drift apart.
 */
import type { IncomingMessage } from "node:http";
import type { ZodType, z } from "zod";
import type { Store } from "../store/types.js";
import type { TargetCheck } from "../webhooks/targets.js";
import { type Principal, requireAccount, requireAdmin } from "./auth.js";
import type { EndpointSpec, Method } from "./endpoint-match.js";
import type { LifecycleDeps } from "./endpoints-lifecycle.js";
import type { QuarantineAccess } from "./endpoints-quarantine.js";
import { ApiError, parseQuery, parseWith, type Reply, readJson } from "./http.js";

export interface ApiContext {
  store: Store;
  now: () => number;
  /** Which addresses a webhook may name (relay/webhooks/targets.ts). */
  webhookTargets: TargetCheck;
  /** This relay's quarantine (relay/spool/quarantine.ts); absent without a scheduler. */
  quarantine?: QuarantineAccess;
  /** Draining and hand-off of this relay (endpoints-lifecycle.ts). */
  lifecycle: LifecycleDeps;
}

export interface EndpointInput<Q, B> {
  request: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  principal: Principal;
  query: Q;
  body: B;
  api: ApiContext;
}

/**
 * public: no token (the Kubernetes probes). fleet: the admin token alone, for
 * the calls the operator and other relays make (drain, hand-off); an API key
 * is no credential there, so it is refused as unknown (401). admin: the admin
 * token only (an API key: 403). account: the admin token, or a key of the
 * account named by `:name`. caller: any valid token; the handler checks what
 * the record it loads belongs to (e.g. a message).
 */
export type Access = "public" | "fleet" | "admin" | "account" | "caller";

export interface ResponseDoc {
  status: number;
  /** Other success statuses with the same body (e.g. 200 and 201 for an upsert). */
  alsoStatus?: number;
  description: string;
  /** The JSON body's schema (absent for 204). */
  schema?: ZodType;
  /** Also answers CSV and XML (a list or stats call). */
  table?: { root: string; row: string };
}

export interface Endpoint extends EndpointSpec {
  access: Access;
  summary: string;
  tag: string;
  querySchema?: ZodType;
  bodySchema?: ZodType;
  response: ResponseDoc;
  run(input: Omit<EndpointInput<unknown, unknown>, "query" | "body">): Promise<Reply>;
}

export function defineEndpoint<
  Q extends ZodType | undefined = undefined,
  B extends ZodType | undefined = undefined,
>(def: {
  method: Method;
  pattern: string;
  access: Access;
  summary: string;
  tag: string;
  query?: Q;
  body?: B;
  response: ResponseDoc;
  handle(
    input: EndpointInput<
      Q extends ZodType ? z.output<Q> : undefined,
      B extends ZodType ? z.output<B> : undefined
    >,
  ): Promise<Reply>;
}): Endpoint {
  return {
    method: def.method,
    pattern: def.pattern,
    access: def.access,
    summary: def.summary,
    tag: def.tag,
    ...(def.query ? { querySchema: def.query } : {}),
    ...(def.body ? { bodySchema: def.body } : {}),
    response: def.response,
    async run(input) {
      if (def.access === "admin") requireAdmin(input.principal);
      if (def.access === "account") requireAccount(input.principal, input.params.name ?? "");
      const query = def.query ? parseQuery(def.query, input.url.searchParams) : undefined;
      let body: unknown;
      if (def.body) {
        const raw = await readJson(input.request);
        if (raw === undefined && !def.body.safeParse(undefined).success) {
          throw new ApiError("invalid_request", "invalid request: (body): a JSON body is required", [
            { field: "(body)", message: "a JSON body is required" },
          ]);
        }
        body = parseWith(def.body, raw);
      }
      // The casts restate what the schemas just checked.
      return def.handle({ ...input, query, body } as Parameters<typeof def.handle>[0]);
    },
  };
}
