/**
 * Which RBAC permission each API request needs, and whether a set of
 * (Cluster)Role rules grants it. Pure; the test feeds it the test API
 * server's request log and the chart's rendered roles.
 */

export interface Permission {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface Grant {
  rules: PolicyRule[];
  /** A Role's namespace; undefined for a ClusterRole (bound cluster-wide). */
  namespace?: string;
}

const VERBS: Record<string, string> = { POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" };

/**
 * The permissions behind one "METHOD URL STATUS" line of the server's log;
 * none for discovery and other non-resource paths. A PATCH answered 201
 * created the object (server-side apply), which Kubernetes authorizes as create too.
 */
export function permissionsFor(method: string, rawUrl: string, status: number): Permission[] {
  const url = new URL(rawUrl, "http://x");
  const parts = url.pathname.split("/").filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 2) {
    group = "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    group = parts[1] ?? "";
    rest = parts.slice(3);
  } else return [];
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource] = rest;
  if (!plural) return [];
  const resource = subresource ? `${plural}/${subresource}` : plural;
  const base = { group, resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
  let verb: string;
  if (method === "GET") {
    const watch = url.searchParams.get("watch");
    verb = name ? "get" : watch === "true" || watch === "1" ? "watch" : "list";
  } else verb = VERBS[method] ?? method.toLowerCase();
  if (verb === "delete" && !name) verb = "deletecollection";
  const needed = [{ ...base, verb }];
  if (method === "PATCH" && status === 201) needed.push({ ...base, verb: "create" });
  return needed;
}

const allows = (list: string[] | undefined, value: string) =>
  (list ?? []).some((v) => v === "*" || v === value);

export function granted(permission: Permission, grants: Grant[]): boolean {
  return grants.some(
    (grant) =>
      (grant.namespace === undefined || grant.namespace === permission.namespace) &&
      grant.rules.some(
        (rule) =>
          allows(rule.apiGroups, permission.group) &&
          allows(rule.resources, permission.resource) &&
          allows(rule.verbs, permission.verb) &&
          (rule.resourceNames === undefined ||
            (permission.name !== undefined && rule.resourceNames.includes(permission.name))),
      ),
  );
}

export const describePermission = (p: Permission) =>
  `${p.verb} ${p.group || "core"}/${p.resource}${p.namespace ? ` in ${p.namespace}` : ""}${p.name ? ` (${p.name})` : ""}`;
