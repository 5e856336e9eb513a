/**
 * What a request asks for in authorization terms, derived from its method
 * and URL alone as apiserver's RequestInfoFactory does (so an unknown
 * resource is refused 403 before anyone looks it up). Pure.
 */

export interface RequestInfo {
  resourceRequest: boolean;
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

const METHOD_VERBS: Record<string, string> = {
  GET: "get",
  HEAD: "get",
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

/** Namespace subresources: /api/v1/namespaces/NAME/status stays a request on namespaces. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/** A valid path segment name: the only fieldSelector metadata.name the apiserver turns into a name. */
const isPathSegmentName = (name: string) =>
  name !== "" && name !== "." && name !== ".." && !/[/%]/.test(name);

/** The exact name a fieldSelector requires with metadata.name=X (or ==X), if it requires one. */
function exactNameOf(fieldSelector: string | null): string | undefined {
  if (!fieldSelector) return undefined;
  for (const term of fieldSelector.split(",")) {
    const match = /^\s*metadata\.name\s*(==|=)\s*(.*?)\s*$/.exec(term);
    if (match) return match[2];
  }
  return undefined;
}

export function requestInfo(method: string, pathname: string, query: URLSearchParams): RequestInfo {
  const path = pathname.replace(/\/+$/, "") || "/";
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  const nonResource: RequestInfo = {
    resourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiGroup: "",
    apiVersion: "",
    namespace: "",
    resource: "",
    subresource: "",
    name: "",
  };
  let group = "";
  let version: string | undefined;
  let parts: string[];
  if (segments[0] === "api") {
    version = segments[1];
    parts = segments.slice(2);
  } else if (segments[0] === "apis") {
    group = segments[1] ?? "";
    version = segments[2];
    parts = segments.slice(3);
  } else return nonResource;
  // /api/v1 and /apis/G/V are discovery documents, granted as non-resource URLs.
  if (!version || parts.length === 0) return nonResource;

  let verb: string;
  if (parts[0] === "watch") {
    if (parts.length < 2) return nonResource;
    verb = "watch";
    parts = parts.slice(1);
  } else verb = METHOD_VERBS[method] ?? "";

  let namespace = "";
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1] ?? "";
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? "")) parts = parts.slice(2);
  }
  const [resource = "", name = "", subresource = ""] = parts;
  const info: RequestInfo = {
    resourceRequest: true,
    path,
    verb,
    apiGroup: group,
    apiVersion: version,
    namespace,
    resource,
    subresource,
    name,
  };
  if (info.name === "" && info.verb === "get") {
    const watch = query.get("watch");
    info.verb = watch === "true" || watch === "1" ? "watch" : "list";
    const exact = exactNameOf(query.get("fieldSelector"));
    if (exact !== undefined && isPathSegmentName(exact)) info.name = exact;
  }
  if (info.name === "" && info.verb === "delete") info.verb = "deletecollection";
  return info;
}
