/**
 * RBAC authorization as kube-apiserver's RBAC authorizer decides it, pure:
 * request attributes (from the URL, as apiserver's RequestInfo derives them)
 * against Roles, ClusterRoles and their bindings. system:masters is allowed
 * everything (the apiserver's privileged group); every authenticated user has
 * the bootstrap policy of system:discovery, system:basic-user and
 * system:public-info-viewer, so those ClusterRoles need not exist as objects.
 */
import type { UserInfo } from "./authentication.js";
import { isObject, type Json, type JsonObject, stringAt } from "./json.js";

/** authorizer.Attributes: a resource request, or a non-resource one (path set, resource empty). */
export interface RequestAttributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  /** The URL path, for non-resource requests. */
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

export interface RbacObjects {
  roles: JsonObject[];
  clusterRoles: JsonObject[];
  roleBindings: JsonObject[];
  clusterRoleBindings: JsonObject[];
}

export const PRIVILEGED_GROUP = "system:masters";

const BOOTSTRAP_RULES: PolicyRule[] = [
  // system:discovery and system:public-info-viewer.
  rule({
    verbs: ["get"],
    nonResourceURLs: [
      "/api",
      "/api/*",
      "/apis",
      "/apis/*",
      "/openapi",
      "/openapi/*",
      "/version",
      "/version/",
      "/healthz",
      "/livez",
      "/readyz",
    ],
  }),
  // system:basic-user: `kubectl auth can-i` and `kubectl auth whoami` for anyone.
  rule({
    verbs: ["create"],
    apiGroups: ["authorization.k8s.io"],
    resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
  }),
  rule({ verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"] }),
];

function rule(partial: Partial<PolicyRule>): PolicyRule {
  return {
    verbs: partial.verbs ?? [],
    apiGroups: partial.apiGroups ?? [],
    resources: partial.resources ?? [],
    resourceNames: partial.resourceNames ?? [],
    nonResourceURLs: partial.nonResourceURLs ?? [],
  };
}

const strings = (value: Json | undefined): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];

export function rulesOf(role: JsonObject): PolicyRule[] {
  const rules = Array.isArray(role.rules) ? role.rules : [];
  return rules.filter(isObject).map((item) =>
    rule({
      verbs: strings(item.verbs),
      apiGroups: strings(item.apiGroups),
      resources: strings(item.resources),
      resourceNames: strings(item.resourceNames),
      nonResourceURLs: strings(item.nonResourceURLs),
    }),
  );
}

/** Whether a binding's subject is this user (a ServiceAccount subject's namespace defaults to the binding's). */
export function subjectMatches(subject: JsonObject, user: UserInfo, bindingNamespace: string): boolean {
  const kind = subject.kind;
  const name = subject.name;
  if (typeof name !== "string") return false;
  if (kind === "User") return user.name === name;
  if (kind === "Group") return user.groups.includes(name);
  if (kind === "ServiceAccount") {
    const namespace =
      typeof subject.namespace === "string" && subject.namespace ? subject.namespace : bindingNamespace;
    return user.name === `system:serviceaccount:${namespace}:${name}`;
  }
  return false;
}

function boundToUser(binding: JsonObject, user: UserInfo): boolean {
  const subjects = Array.isArray(binding.subjects) ? binding.subjects.filter(isObject) : [];
  const namespace = stringAt(binding, "metadata", "namespace") ?? "";
  return subjects.some((subject) => subjectMatches(subject, user, namespace));
}

function referencedRules(binding: JsonObject, objects: RbacObjects): PolicyRule[] {
  const kind = stringAt(binding, "roleRef", "kind");
  const name = stringAt(binding, "roleRef", "name");
  const namespace = stringAt(binding, "metadata", "namespace");
  const found =
    kind === "ClusterRole"
      ? objects.clusterRoles.find((role) => stringAt(role, "metadata", "name") === name)
      : kind === "Role"
        ? objects.roles.find(
            (role) =>
              stringAt(role, "metadata", "name") === name &&
              stringAt(role, "metadata", "namespace") === namespace,
          )
        : undefined;
  // A binding to a missing role grants nothing (RBAC resolves roles at request time).
  return found ? rulesOf(found) : [];
}

/**
 * Every rule that applies to the user in `namespace` ("" = cluster scope): the bootstrap rules,
 * ClusterRoleBindings' roles, and (in a namespace) its RoleBindings' Roles and ClusterRoles.
 */
export function rulesFor(user: UserInfo, namespace: string, objects: RbacObjects): PolicyRule[] {
  const rules = user.groups.includes("system:authenticated") ? [...BOOTSTRAP_RULES] : [];
  for (const binding of objects.clusterRoleBindings)
    if (boundToUser(binding, user)) rules.push(...referencedRules(binding, objects));
  if (namespace) {
    for (const binding of objects.roleBindings) {
      if (stringAt(binding, "metadata", "namespace") !== namespace) continue;
      if (boundToUser(binding, user)) rules.push(...referencedRules(binding, objects));
    }
  }
  return rules;
}

const matchesOrStar = (list: string[], value: string) => list.some((item) => item === "*" || item === value);

/** rbac/v1's ResourceMatches: "*", the exact "pods/status", or "*∕status" for a subresource. */
function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return rule.resources.some(
    (item) => item === "*" || item === combined || (subresource !== "" && item === `*/${subresource}`),
  );
}

function nonResourceUrlMatches(rule: PolicyRule, path: string): boolean {
  return rule.nonResourceURLs.some(
    (item) => item === "*" || item === path || (item.endsWith("*") && path.startsWith(item.slice(0, -1))),
  );
}

export function ruleAllows(rule: PolicyRule, attributes: RequestAttributes): boolean {
  if (!matchesOrStar(rule.verbs, attributes.verb)) return false;
  if (!attributes.resourceRequest) return nonResourceUrlMatches(rule, attributes.path);
  return (
    matchesOrStar(rule.apiGroups, attributes.apiGroup) &&
    resourceMatches(rule, attributes.resource, attributes.subresource) &&
    (rule.resourceNames.length === 0 || rule.resourceNames.includes(attributes.name))
  );
}

export function authorize(attributes: RequestAttributes, objects: RbacObjects): boolean {
  if (attributes.user.groups.includes(PRIVILEGED_GROUP)) return true;
  const namespace = attributes.resourceRequest ? attributes.namespace : "";
  return rulesFor(attributes.user, namespace, objects).some((item) => ruleAllows(item, attributes));
}

/** apiserver's forbiddenMessage: what follows `... is forbidden: `. */
export function forbiddenReason(attributes: RequestAttributes): string {
  const user = attributes.user.name;
  if (!attributes.resourceRequest)
    return `User "${user}" cannot ${attributes.verb} path "${attributes.path}"`;
  const resource = attributes.subresource
    ? `${attributes.resource}/${attributes.subresource}`
    : attributes.resource;
  const prefix = `User "${user}" cannot ${attributes.verb} resource "${resource}" in API group "${attributes.apiGroup}"`;
  return attributes.namespace
    ? `${prefix} in the namespace "${attributes.namespace}"`
    : `${prefix} at the cluster scope`;
}

/** The full message of the 403 Status, as apierrors.NewForbidden words it. */
export function forbiddenMessage(attributes: RequestAttributes): string {
  const reason = forbiddenReason(attributes);
  if (!attributes.resourceRequest) return `forbidden: ${reason}`;
  const qualified = attributes.apiGroup
    ? `${attributes.resource}.${attributes.apiGroup}`
    : attributes.resource;
  return attributes.name
    ? `${qualified} "${attributes.name}" is forbidden: ${reason}`
    : `${qualified} is forbidden: ${reason}`;
}

/**
 * RBAC escalation prevention: a user may create or update a Role or ClusterRole only with rules
 * it holds itself, in the role's namespace (or cluster-wide for a ClusterRole). Returns the rules
 * it does not hold, in the shape kube-apiserver lists them; empty when allowed. Users with the
 * `escalate` verb on the role's resource are exempt; that check is the caller's.
 */
export function ungrantedRules(
  user: UserInfo,
  namespace: string,
  requested: PolicyRule[],
  objects: RbacObjects,
): PolicyRule[] {
  if (user.groups.includes(PRIVILEGED_GROUP)) return [];
  const held = rulesFor(user, namespace, objects);
  const missing: PolicyRule[] = [];
  // Each requested rule is split into its atoms (one verb, group, resource, name); every atom must be covered.
  for (const wanted of requested) {
    for (const atom of atomsOf(wanted)) {
      if (!held.some((have) => covers(have, atom))) missing.push(atom);
    }
  }
  return missing;
}

function atomsOf(wanted: PolicyRule): PolicyRule[] {
  const atoms: PolicyRule[] = [];
  const verbs = wanted.verbs;
  if (wanted.nonResourceURLs.length > 0) {
    for (const verb of verbs)
      for (const url of wanted.nonResourceURLs) atoms.push(rule({ verbs: [verb], nonResourceURLs: [url] }));
  }
  const names = wanted.resourceNames.length > 0 ? wanted.resourceNames : [undefined];
  for (const verb of verbs)
    for (const group of wanted.apiGroups)
      for (const resource of wanted.resources)
        for (const name of names)
          atoms.push(
            rule({
              verbs: [verb],
              apiGroups: [group],
              resources: [resource],
              ...(name !== undefined ? { resourceNames: [name] } : {}),
            }),
          );
  return atoms;
}

/** Whether a held rule covers one atom; a "*" is covered only by "*" (rbac's Covers). */
function covers(have: PolicyRule, atom: PolicyRule): boolean {
  const verb = atom.verbs[0] ?? "";
  if (!matchesOrStar(have.verbs, verb)) return false;
  if (atom.nonResourceURLs.length > 0) {
    const url = atom.nonResourceURLs[0] ?? "";
    return have.nonResourceURLs.some(
      (item) => item === "*" || item === url || (item.endsWith("*") && url.startsWith(item.slice(0, -1))),
    );
  }
  const group = atom.apiGroups[0] ?? "";
  const resource = atom.resources[0] ?? "";
  if (!matchesOrStar(have.apiGroups, group)) return false;
  const slash = resource.indexOf("/");
  const subresource = slash >= 0 ? resource.slice(slash + 1) : "";
  const base = slash >= 0 ? resource.slice(0, slash) : resource;
  if (!resourceMatches(have, base, subresource) && !have.resources.includes(resource)) return false;
  if (have.resourceNames.length === 0) return true;
  return atom.resourceNames.length === 1 && have.resourceNames.includes(atom.resourceNames[0] ?? "");
}

/** A missing rule as kube-apiserver prints it in an escalation refusal. */
export function describeRule(item: PolicyRule): string {
  const parts: string[] = [];
  if (item.apiGroups.length)
    parts.push(`APIGroups:[${item.apiGroups.map((g) => JSON.stringify(g)).join(" ")}]`);
  if (item.resources.length)
    parts.push(`Resources:[${item.resources.map((r) => JSON.stringify(r)).join(" ")}]`);
  if (item.resourceNames.length)
    parts.push(`ResourceNames:[${item.resourceNames.map((r) => JSON.stringify(r)).join(" ")}]`);
  if (item.nonResourceURLs.length)
    parts.push(`NonResourceURLs:[${item.nonResourceURLs.map((u) => JSON.stringify(u)).join(" ")}]`);
  parts.push(`Verbs:[${item.verbs.map((v) => JSON.stringify(v)).join(" ")}]`);
  return `{${parts.join(", ")}}`;
}
