/**
 * The test Kubernetes API server: HTTPS on loopback with a throwaway CA (the
 * kubeconfig carries it; client-go sends no credentials to an http://
 * server), bearer-token authentication and RBAC (access.ts), routing to
 * discovery, OpenAPI and resource handlers, and a kubeconfig file for clients.
 */
import { writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { AccessControl } from "./access.js";
import { ADMIN_TOKEN } from "./authentication.js";
import {
  type Controller,
  type ControllerFactory,
  crdRegistration,
  garbageCollector,
  type InProcessApi,
} from "./controllers.js";
import {
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiVersions,
  resourceList,
  SERVER_VERSION,
  typesInGroupVersion,
} from "./discovery.js";
import { ApiError, badRequest, pathNotFound } from "./errors.js";
import { isObject, type JsonObject } from "./json.js";
import { ObjectService } from "./objects.js";
import { openApiV2Document, openApiV3Document, openApiV3Index } from "./openapi.js";
import { decodeKubernetesProtobuf } from "./protobuf.js";
import { requestInfo } from "./request-info.js";
import { handleResource, type ResourceContext } from "./resources.js";
import { Storage } from "./storage.js";
import { servingCertificate } from "./tls.js";
import { TypeRegistry } from "./type-registry.js";
import { watchRegistry } from "./watch.js";

export interface TestApiServerOptions {
  /** 0 or undefined: any free port. */
  port?: number;
  host?: string;
  /** Where to write the kubeconfig; if omitted, none is written (kubeconfig() still returns the text). */
  kubeconfigPath?: string;
  /** Extra controllers started with the server (the seam a kubelet plugs into). */
  controllers?: ControllerFactory[];
  /** How many changes watches can resume across before answering 410 (etcd compaction). */
  historyLimit?: number;
  /** Interval between watch bookmarks. */
  bookmarkIntervalMs?: number;
  /** Called for every request, e.g. to print a log line. */
  onRequest?: (line: string) => void;
}

export interface TestApiServer {
  /** https://HOST:PORT; its certificate is signed by `ca`. */
  url: string;
  /** PEM of the CA behind the serving certificate (the kubeconfig carries it too). */
  ca: string;
  /** The kubeconfig's bearer token: a cluster admin (system:masters). */
  adminToken: string;
  kubeconfigPath: string | undefined;
  /** The kubeconfig text (also written to kubeconfigPath if one was given). */
  kubeconfig: string;
  /** In-process access to the same objects, for tests and controllers. */
  api: InProcessApi;
  /** Forgets watch history, so resuming from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Ends every open watch stream, as an API server restart would. */
  closeWatches(): void;
  /**
   * A bound token for an existing ServiceAccount, as TokenRequest (`kubectl create token`) issues
   * it: it authenticates as system:serviceaccount:NS:NAME and RBAC decides what it may do.
   */
  tokenFor(namespace: string, serviceAccount: string, expirationSeconds?: number): string;
  /** A kubeconfig acting as that ServiceAccount (written to `path` if given); returns its text. */
  kubeconfigFor(namespace: string, serviceAccount: string, path?: string): Promise<string>;
  stop(): Promise<void>;
}

const AGGREGATED = /as=APIGroupDiscoveryList/;

function aggregatedVersion(accept: string): string | undefined {
  for (const part of accept.split(",")) {
    if (!AGGREGATED.test(part) || !/g=apidiscovery\.k8s\.io/.test(part)) continue;
    if (/v=v2(;|$|\s)/.test(part)) return "v2";
    if (/v=v2beta1/.test(part)) return "v2beta1";
  }
  return undefined;
}

function wantsTable(accept: string): boolean {
  return (
    /as=Table/.test(accept.split(",")[0] ?? "") ||
    (/as=Table/.test(accept) && !/^application\/json(,|$)/.test(accept))
  );
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** The request body as JSON text: protobuf bodies from typed client-go clients are decoded first. */
async function bodyText(request: IncomingMessage): Promise<{ body: string; contentType: string }> {
  const raw = await readBody(request);
  const contentType = request.headers["content-type"] ?? "application/json";
  if (raw.length > 0 && contentType.startsWith("application/vnd.kubernetes.protobuf")) {
    return { body: JSON.stringify(decodeKubernetesProtobuf(raw)), contentType: "application/json" };
  }
  if (raw.length > 0 && /cbor/.test(contentType)) {
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
    );
  }
  return { body: raw.toString("utf8"), contentType };
}

/** A JSON object body for the handlers that answer in place (TokenRequest, access reviews). */
function parseJsonBody(body: string): JsonObject {
  if (body.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw badRequest("the request body must be a JSON object");
  return parsed;
}

function quoteWarning(text: string): string {
  return `299 - "${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function send(
  response: ServerResponse,
  status: number,
  body: JsonObject,
  contentType = "application/json",
  warnings: string[] = [],
): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    "Content-Type": contentType,
    "Content-Length": String(Buffer.byteLength(text)),
    "Cache-Control": "no-cache, private",
  };
  if (warnings.length > 0) headers.Warning = warnings.map(quoteWarning);
  response.writeHead(status, headers);
  response.end(text);
}

interface Route {
  group: string;
  version: string;
  rest: string[];
}

/** "/api/v1/..." → core; "/apis/G/V/..." → named group; undefined for non-resource paths. */
function groupVersionRoute(segments: string[]): Route | undefined {
  if (segments[0] === "api" && segments[1])
    return { group: "", version: segments[1], rest: segments.slice(2) };
  if (segments[0] === "apis" && segments[1] && segments[2])
    return { group: segments[1], version: segments[2], rest: segments.slice(3) };
  return undefined;
}

export async function startTestApiServer(options: TestApiServerOptions = {}): Promise<TestApiServer> {
  const storage = new Storage(options.historyLimit);
  const types = new TypeRegistry();
  const objects = new ObjectService(storage, types);
  const api: InProcessApi = { objects, storage, types };
  const access = new AccessControl(objects);
  const watches = watchRegistry();
  const context: ResourceContext = {
    objects,
    watches,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 5000,
  };
  const controllers: Controller[] = [crdRegistration, garbageCollector, ...(options.controllers ?? [])].map(
    (start) => start(api),
  );
  const namespaces = types.find("", "v1", "namespaces");
  if (!namespaces) throw new Error("namespaces must be a built-in type");
  for (const name of ["default", "kube-system", "kube-public", "kube-node-lease"])
    objects.create(namespaces, undefined, { metadata: { name } });

  const host = options.host ?? "127.0.0.1";
  let url = "";

  const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const parsed = new URL(request.url ?? "/", "http://localhost");
    const segments = parsed.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const accept = request.headers.accept ?? "application/json";
    const method = request.method ?? "GET";
    const path = parsed.pathname.replace(/\/+$/, "") || "/";
    // Authentication, then RBAC on what the URL asks for, before anything looks the path up.
    const user = access.authenticate(request.headers.authorization);
    const info = requestInfo(method, parsed.pathname, parsed.searchParams);
    access.authorize(user, info);

    if (path === "/version") return send(response, 200, SERVER_VERSION);
    if (path === "/healthz" || path === "/readyz" || path === "/livez") {
      response.writeHead(200, { "Content-Type": "text/plain" });
      response.end("ok");
      return;
    }
    if (path === "/openapi/v2") return send(response, 200, openApiV2Document(types));
    if (path === "/openapi/v3") return send(response, 200, openApiV3Index(types));
    if (segments[0] === "openapi" && segments[1] === "v3") {
      const gv = groupVersionRoute(segments.slice(2));
      const document =
        gv && gv.rest.length === 0 ? openApiV3Document(types, gv.group, gv.version) : undefined;
      if (!document) throw pathNotFound();
      return send(response, 200, document);
    }
    if (path === "/api" || path === "/apis") {
      const version = aggregatedVersion(accept);
      if (version) {
        const contentType = `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
        return send(
          response,
          200,
          aggregatedDiscovery(types, path === "/api", `apidiscovery.k8s.io/${version}`),
          contentType,
        );
      }
      return send(
        response,
        200,
        path === "/api"
          ? apiVersions(`${host}:${(server.address() as AddressInfo).port}`)
          : apiGroupList(types),
      );
    }
    if (segments[0] === "apis" && segments.length === 2 && segments[1]) {
      const group = apiGroup(types, segments[1]);
      if (!group) throw pathNotFound();
      return send(response, 200, group);
    }
    const gv = groupVersionRoute(segments);
    if (!gv) throw pathNotFound();
    let rest = gv.rest;
    if (rest.length === 0) {
      const served = typesInGroupVersion(types, gv.group, gv.version);
      if (served.length === 0) throw pathNotFound();
      return send(response, 200, resourceList(served, gv.group ? `${gv.group}/${gv.version}` : gv.version));
    }
    const query = parsed.searchParams;
    if (rest[0] === "watch") {
      // The legacy /watch/ path prefix means ?watch=true.
      rest = rest.slice(1);
      query.set("watch", "true");
    }
    let namespace: string | undefined;
    if (
      rest[0] === "namespaces" &&
      rest.length >= 3 &&
      !(rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize"))
    ) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    const type = plural ? types.find(gv.group, gv.version, plural) : undefined;
    if (!type || extra.length > 0 || (namespace !== undefined && !type.namespaced)) throw pathNotFound();
    if (type.namespaced && name !== undefined && namespace === undefined) throw pathNotFound();
    const { body, contentType } = method === "GET" ? { body: "", contentType: "" } : await bodyText(request);
    if (type.plural === "serviceaccounts" && subresource === "token" && namespace && name) {
      if (method !== "POST") throw pathNotFound();
      return send(response, 201, access.tokenRequest(namespace, name, parseJsonBody(body)));
    }
    if (type.plural === "selfsubjectreviews") {
      if (method !== "POST" || name !== undefined) throw pathNotFound();
      return send(response, 201, access.selfSubjectReview(user));
    }
    if (type.plural === "selfsubjectaccessreviews") {
      if (method !== "POST" || name !== undefined) throw pathNotFound();
      return send(response, 201, access.selfSubjectAccessReview(user, parseJsonBody(body)));
    }
    if (method === "PATCH" && name !== undefined && subresource === undefined) {
      // A patch that creates the object (server-side apply) needs create as well, as in patch.go.
      if (!objects.find(type, namespace, name)) access.authorize(user, { ...info, verb: "create" });
    }
    if (method === "POST" || method === "PUT" || method === "PATCH")
      access.preventEscalation(user, info, { type, namespace, name, method, body, contentType });
    const reply = handleResource(
      context,
      {
        method,
        type,
        ...(namespace !== undefined ? { namespace } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(subresource !== undefined
          ? { subresource: subresource === "finalize" ? "status" : subresource }
          : {}),
        query,
        contentType,
        body,
        wantsTable: wantsTable(accept),
        userAgent: request.headers["user-agent"] ?? "",
      },
      response,
    );
    if (reply) send(response, reply.status, reply.body, "application/json", reply.warnings);
  };

  const certificate = await servingCertificate(host);
  const server = createServer({ key: certificate.key, cert: certificate.cert }, (request, response) => {
    const started = Date.now();
    route(request, response)
      .catch((error: unknown) => {
        const apiError =
          error instanceof ApiError
            ? error
            : new ApiError(
                500,
                "InternalError",
                `Internal error occurred: ${(error as Error).stack ?? String(error)}`,
              );
        if (!response.headersSent) send(response, apiError.code, apiError.toStatus());
        else response.end();
      })
      .finally(() => {
        options.onRequest?.(
          `${request.method} ${request.url} ${response.statusCode} ${Date.now() - started}ms`,
        );
      });
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  url = `https://${host}:${port}`;
  const kubeconfig = kubeconfigText(url, certificate.ca);
  if (options.kubeconfigPath) await writeFile(options.kubeconfigPath, kubeconfig, { mode: 0o600 });
  const tokenFor = (namespace: string, serviceAccount: string, expirationSeconds?: number) =>
    access.tokenFor(namespace, serviceAccount, expirationSeconds);

  return {
    url,
    kubeconfigPath: options.kubeconfigPath,
    kubeconfig,
    ca: certificate.ca,
    adminToken: ADMIN_TOKEN,
    api,
    compact: () => storage.compact(),
    closeWatches: () => watches.closeAll(),
    tokenFor,
    async kubeconfigFor(namespace, serviceAccount, path) {
      const text = kubeconfigText(url, certificate.ca, {
        token: tokenFor(namespace, serviceAccount),
        user: `${namespace}-${serviceAccount}`,
        namespace,
      });
      if (path) await writeFile(path, text, { mode: 0o600 });
      return text;
    },
    async stop() {
      for (const controller of controllers) await controller.stop();
      watches.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A kubeconfig for the server: one cluster, user and context, all named relayfleet-test. Without
 * `as`, its token is the cluster admin's (system:masters); with it, whatever token is given.
 */
export function kubeconfigText(
  url: string,
  ca: string,
  as: { token: string; user: string; namespace: string } = {
    token: ADMIN_TOKEN,
    user: "relayfleet-test",
    namespace: "default",
  },
): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: relayfleet-test",
    "  cluster:",
    `    server: ${url}`,
    `    certificate-authority-data: ${Buffer.from(ca).toString("base64")}`,
    "users:",
    `- name: ${as.user}`,
    "  user:",
    `    token: ${as.token}`,
    "contexts:",
    "- name: relayfleet-test",
    "  context:",
    "    cluster: relayfleet-test",
    `    user: ${as.user}`,
    `    namespace: ${as.namespace}`,
    "current-context: relayfleet-test",
    "",
  ].join("\n");
}
