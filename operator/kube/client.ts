/**
 * A thin REST client for the API server: JSON in, JSON out, errors as
 * KubeError carrying the Status reason. It uses the KubeConfig of
 * @kubernetes/client-node for credentials and TLS, and node:http(s) for the
 * wire, because the generated clients cannot server-side apply to a status
 * subresource and hide the Status body behind a string.
 *
 * Every request has a timeout: a half-open connection never hangs a reconcile.
 */
import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
};

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

/** A failed API call: `reason` is the Status reason (NotFound, Conflict, AlreadyExists, Invalid...). */
export class KubeError extends Error {
  override readonly name = "KubeError";
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const isNotFound = (error: unknown): boolean => error instanceof KubeError && error.code === 404;
export const isConflict = (error: unknown): boolean => error instanceof KubeError && error.code === 409;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** Where a resource lives: "/api/v1" or "/apis/group/version", plural, namespace. */
export interface ResourceRef {
  apiVersion: string;
  plural: string;
  namespace?: string;
}

export function resourcePath(ref: ResourceRef, name?: string, subresource?: string): string {
  const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : "";
  const named = name === undefined ? "" : `/${encodeURIComponent(name)}`;
  return `${base}${ns}/${ref.plural}${named}${subresource ? `/${subresource}` : ""}`;
}

export class KubeClient {
  constructor(
    readonly config: KubeConfig,
    private readonly defaultTimeoutMs = 15_000,
  ) {}

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/$/, "") + path);
    for (const [key, value] of Object.entries(options.query ?? {}))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const requestOptions: https.RequestOptions = { method, headers: { accept: "application/json" } };
    await this.config.applyToHTTPSOptions(requestOptions);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (payload !== undefined)
      requestOptions.headers = {
        ...requestOptions.headers,
        "content-type": options.contentType ?? "application/json",
        "content-length": Buffer.byteLength(payload),
      };
    const send = url.protocol === "https:" ? https.request : http.request;
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, requestOptions, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = response.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text === "" ? {} : JSON.parse(text);
          } catch {
            parsed = { message: text };
          }
          if (status >= 200 && status < 300) resolve(parsed as T);
          else {
            const body = parsed as { reason?: string; message?: string };
            reject(
              new KubeError(
                status,
                body.reason ?? String(status),
                body.message ?? `HTTP ${status} for ${method} ${path}`,
              ),
            );
          }
        });
      });
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  get<T extends KubeObject>(ref: ResourceRef, name: string): Promise<T> {
    return this.request<T>("GET", resourcePath(ref, name));
  }

  /** undefined when the object does not exist. */
  async find<T extends KubeObject>(ref: ResourceRef, name: string): Promise<T | undefined> {
    try {
      return await this.get<T>(ref, name);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  list<T extends KubeObject>(ref: ResourceRef, labelSelector?: string): Promise<KubeList<T>> {
    return this.request<KubeList<T>>("GET", resourcePath(ref), { query: { labelSelector } });
  }

  create<T extends KubeObject>(ref: ResourceRef, body: KubeObject): Promise<T> {
    return this.request<T>("POST", resourcePath(ref), { body });
  }

  replace<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    body: KubeObject,
    subresource?: string,
  ): Promise<T> {
    return this.request<T>("PUT", resourcePath(ref, name, subresource), { body });
  }

  /** Server-side apply: the object holds exactly the fields `fieldManager` wants to own. */
  apply<T extends KubeObject>(
    ref: ResourceRef,
    body: KubeObject,
    fieldManager: string,
    options: { subresource?: string; force?: boolean } = {},
  ): Promise<T> {
    const name = body.metadata?.name;
    if (!name) throw new Error("apply needs metadata.name");
    return this.request<T>("PATCH", resourcePath(ref, name, options.subresource), {
      body,
      contentType: "application/apply-patch+yaml",
      query: { fieldManager, force: options.force ?? true },
    });
  }

  mergePatch<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    patch: unknown,
    subresource?: string,
  ): Promise<T> {
    return this.request<T>("PATCH", resourcePath(ref, name, subresource), {
      body: patch,
      contentType: "application/merge-patch+json",
    });
  }

  /** true if it was there; NotFound is not an error (deleting what is gone is done). */
  async delete(ref: ResourceRef, name: string, propagationPolicy = "Background"): Promise<boolean> {
    try {
      await this.request("DELETE", resourcePath(ref, name), { body: { propagationPolicy } });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** Whether the API serves a resource (a CRD such as DNSEndpoint or ServiceMonitor may be absent). */
  async serves(apiVersion: string, plural: string): Promise<boolean> {
    try {
      const list = await this.request<{ resources?: { name: string }[] }>(
        "GET",
        apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`,
      );
      return (list.resources ?? []).some((resource) => resource.name === plural);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }
}
