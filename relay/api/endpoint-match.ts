/** An endpoint table matched by method and path pattern (`/v1/accounts/:name`); pure. */
export type Method = "GET" | "PUT" | "POST" | "PATCH" | "DELETE";

export interface EndpointSpec {
  method: Method;
  /** Segments; `:name` captures one segment (percent-decoded). */
  pattern: string;
}

export type Match<E> =
  | { kind: "found"; endpoint: E; params: Record<string, string> }
  | { kind: "method"; allowed: Method[]; pattern: string }
  | { kind: "none" }
  | { kind: "bad_encoding" };

function matchPattern(
  pattern: string,
  segments: readonly string[],
): Record<string, string> | undefined | "bad" {
  const parts = pattern.split("/").filter(Boolean);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const segment = segments[i] as string;
    if (part.startsWith(":")) {
      if (segment === "") return undefined;
      try {
        params[part.slice(1)] = decodeURIComponent(segment);
      } catch {
        return "bad";
      }
    } else if (part !== segment) return undefined;
  }
  return params;
}

export function matchEndpoint<E extends EndpointSpec>(
  endpoints: readonly E[],
  method: string,
  path: string,
): Match<E> {
  const segments = path.split("/").filter((segment, i) => i > 0 || segment !== "");
  if (segments.at(-1) === "") segments.pop();
  const allowed: Method[] = [];
  let pattern = "";
  for (const endpoint of endpoints) {
    const params = matchPattern(endpoint.pattern, segments);
    if (params === "bad") return { kind: "bad_encoding" };
    if (!params) continue;
    if (endpoint.method === method || (method === "HEAD" && endpoint.method === "GET")) {
      return { kind: "found", endpoint, params };
    }
    allowed.push(endpoint.method);
    pattern = endpoint.pattern;
  }
  return allowed.length > 0 ? { kind: "method", allowed, pattern } : { kind: "none" };
}
