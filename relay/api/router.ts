/** A route table matched by method and path pattern (`/v1/accounts/:name`); pure. */
export type Method = "GET" | "PUT" | "POST" | "PATCH" | "DELETE";

export interface RouteSpec {
  method: Method;
  /** Segments; `:name` captures one segment (percent-decoded). */
  pattern: string;
}

export type Match<R> =
  | { kind: "found"; route: R; params: Record<string, string> }
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

export function matchRoute<R extends RouteSpec>(
  routes: readonly R[],
  method: string,
  path: string,
): Match<R> {
  const segments = path.split("/").filter((segment, i) => i > 0 || segment !== "");
  if (segments.at(-1) === "") segments.pop();
  const allowed: Method[] = [];
  let pattern = "";
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (params === "bad") return { kind: "bad_encoding" };
    if (!params) continue;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) {
      return { kind: "found", route, params };
    }
    allowed.push(route.method);
    pattern = route.pattern;
  }
  return allowed.length > 0 ? { kind: "method", allowed, pattern } : { kind: "none" };
}
