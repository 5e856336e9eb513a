/** RBAC decisions and request attributes, checked directly against kube-apiserver's rules. */
import { describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  ADMIN_USER,
  serviceAccountUser,
  TokenAuthenticator,
  type UserInfo,
} from "./authentication.js";
import type { JsonObject } from "./json.js";
import {
  authorize,
  forbiddenMessage,
  type RbacObjects,
  type RequestAttributes,
  rulesOf,
  ungrantedRules,
} from "./rbac.js";
import { requestInfo } from "./request-info.js";

const operator = serviceAccountUser("relayfleet-system", "operator", "uid-1");
const alice: UserInfo = { name: "alice", groups: ["mail-admins", "system:authenticated"] };

const role = (kind: "Role" | "ClusterRole", name: string, rules: JsonObject[], namespace?: string) => ({
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  rules,
});

const binding = (
  kind: "RoleBinding" | "ClusterRoleBinding",
  name: string,
  roleRef: { kind: string; name: string },
  subjects: JsonObject[],
  namespace?: string,
) => ({
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
  subjects,
});

const POLICY: RbacObjects = {
  clusterRoles: [
    role("ClusterRole", "pods-reader", [
      { apiGroups: [""], resources: ["pods", "pods/log"], verbs: ["get", "list", "watch"] },
    ]),
    role("ClusterRole", "status-writer", [{ apiGroups: ["*"], resources: ["*/status"], verbs: ["patch"] }]),
    role("ClusterRole", "metrics", [{ nonResourceURLs: ["/metrics", "/debug/*"], verbs: ["get"] }]),
    role("ClusterRole", "secrets-admin", [{ apiGroups: [""], resources: ["secrets"], verbs: ["*"] }]),
  ],
  clusterRoleBindings: [
    binding("ClusterRoleBinding", "operator-pods", { kind: "ClusterRole", name: "pods-reader" }, [
      { kind: "ServiceAccount", name: "operator", namespace: "relayfleet-system" },
    ]),
    binding("ClusterRoleBinding", "metrics", { kind: "ClusterRole", name: "metrics" }, [
      { kind: "Group", name: "mail-admins" },
    ]),
  ],
  roles: [
    role(
      "Role",
      "leader",
      [
        {
          apiGroups: ["coordination.k8s.io"],
          resources: ["leases"],
          resourceNames: ["relayfleet-operator"],
          verbs: ["get", "update"],
        },
      ],
      "relayfleet-system",
    ),
  ],
  roleBindings: [
    // A ServiceAccount subject without a namespace means the binding's namespace.
    binding(
      "RoleBinding",
      "leader",
      { kind: "Role", name: "leader" },
      [{ kind: "ServiceAccount", name: "operator" }],
      "relayfleet-system",
    ),
    // A ClusterRole through a RoleBinding: its rules, in this namespace only.
    binding(
      "RoleBinding",
      "mail-secrets",
      { kind: "ClusterRole", name: "secrets-admin" },
      [{ kind: "User", name: "alice" }],
      "mail",
    ),
    binding(
      "RoleBinding",
      "status",
      { kind: "ClusterRole", name: "status-writer" },
      [{ kind: "ServiceAccount", name: "operator", namespace: "relayfleet-system" }],
      "mail",
    ),
    // Bound to a Role that does not exist: grants nothing.
    binding(
      "RoleBinding",
      "dangling",
      { kind: "Role", name: "missing" },
      [{ kind: "User", name: "alice" }],
      "relayfleet-system",
    ),
  ],
};

function attributes(user: UserInfo, method: string, url: string): RequestAttributes {
  const parsed = new URL(url, "https://x");
  return { ...requestInfo(method, parsed.pathname, parsed.searchParams), user };
}

const can = (user: UserInfo, method: string, url: string) => authorize(attributes(user, method, url), POLICY);

describe("request attributes, as apiserver's RequestInfo derives them", () => {
  it.each([
    ["GET", "/api/v1/namespaces/mail/secrets/token", "get", "", "secrets", "", "mail", "token"],
    ["GET", "/api/v1/namespaces/mail/secrets", "list", "", "secrets", "", "mail", ""],
    ["GET", "/api/v1/secrets?watch=true", "watch", "", "secrets", "", "", ""],
    ["GET", "/api/v1/watch/namespaces/mail/pods", "watch", "", "pods", "", "mail", ""],
    [
      "GET",
      "/api/v1/namespaces/mail/pods?fieldSelector=metadata.name%3Drelay-0",
      "list",
      "",
      "pods",
      "",
      "mail",
      "relay-0",
    ],
    [
      "POST",
      "/api/v1/namespaces/mail/serviceaccounts/op/token",
      "create",
      "",
      "serviceaccounts",
      "token",
      "mail",
      "op",
    ],
    [
      "PATCH",
      "/apis/relayfleet.io/v1alpha1/namespaces/mail/relaypools/a/status",
      "patch",
      "relayfleet.io",
      "relaypools",
      "status",
      "mail",
      "a",
    ],
    [
      "PUT",
      "/apis/coordination.k8s.io/v1/namespaces/x/leases/l",
      "update",
      "coordination.k8s.io",
      "leases",
      "",
      "x",
      "l",
    ],
    ["DELETE", "/api/v1/namespaces/mail/pods", "deletecollection", "", "pods", "", "mail", ""],
    ["DELETE", "/api/v1/namespaces/mail/pods/p", "delete", "", "pods", "", "mail", "p"],
    // A namespace is a request in its own namespace, so a RoleBinding there can grant reading it.
    ["GET", "/api/v1/namespaces/mail", "get", "", "namespaces", "", "mail", "mail"],
    ["PUT", "/api/v1/namespaces/mail/finalize", "update", "", "namespaces", "finalize", "mail", "mail"],
  ])("%s %s → %s", (method, url, verb, apiGroup, resource, subresource, namespace, name) => {
    const parsed = new URL(url, "https://x");
    expect(requestInfo(method, parsed.pathname, parsed.searchParams)).toMatchObject({
      resourceRequest: true,
      verb,
      apiGroup,
      resource,
      subresource,
      namespace,
      name,
    });
  });

  it.each(["/api", "/apis", "/api/v1", "/apis/apps/v1", "/version", "/openapi/v3/apis/apps/v1", "/metrics"])(
    "%s is a non-resource request with the lower-case method as verb",
    (path) => {
      expect(requestInfo("GET", path, new URLSearchParams())).toMatchObject({
        resourceRequest: false,
        verb: "get",
        path,
      });
    },
  );
});

describe("RBAC", () => {
  it("lets system:masters do anything, and no one else without a rule", () => {
    expect(can(ADMIN_USER, "DELETE", "/api/v1/namespaces/kube-system/secrets")).toBe(true);
    expect(can(ADMIN_USER, "GET", "/anything/at/all")).toBe(true);
    expect(can(operator, "GET", "/api/v1/namespaces/mail/secrets/x")).toBe(false);
  });

  it("grants a ClusterRoleBinding's rules in every namespace and at cluster scope, subresources only when listed", () => {
    expect(can(operator, "GET", "/api/v1/namespaces/a/pods")).toBe(true);
    expect(can(operator, "GET", "/api/v1/pods?watch=1")).toBe(true);
    expect(can(operator, "GET", "/api/v1/namespaces/a/pods/p/log")).toBe(true);
    expect(can(operator, "GET", "/api/v1/namespaces/a/pods/p/exec")).toBe(false);
    expect(can(operator, "DELETE", "/api/v1/namespaces/a/pods/p")).toBe(false);
  });

  it("limits resourceNames to those names (a list has no name, so it is not covered)", () => {
    const lease = "/apis/coordination.k8s.io/v1/namespaces/relayfleet-system/leases";
    expect(can(operator, "GET", `${lease}/relayfleet-operator`)).toBe(true);
    expect(can(operator, "PUT", `${lease}/relayfleet-operator`)).toBe(true);
    expect(can(operator, "GET", `${lease}/other`)).toBe(false);
    expect(can(operator, "GET", lease)).toBe(false);
    // A fieldSelector on the name names the object, but the verb stays list, which this Role lacks.
    expect(can(operator, "GET", `${lease}?fieldSelector=metadata.name%3Drelayfleet-operator`)).toBe(false);
  });

  it("applies a ClusterRole bound by a RoleBinding in that namespace only, and */status across groups", () => {
    expect(can(alice, "GET", "/api/v1/namespaces/mail/secrets")).toBe(true);
    expect(can(alice, "DELETE", "/api/v1/namespaces/mail/secrets/x")).toBe(true);
    expect(can(alice, "GET", "/api/v1/namespaces/other/secrets")).toBe(false);
    expect(can(alice, "GET", "/api/v1/secrets")).toBe(false);
    expect(can(operator, "PATCH", "/apis/relayfleet.io/v1alpha1/namespaces/mail/relaypools/a/status")).toBe(
      true,
    );
    expect(can(operator, "PATCH", "/apis/relayfleet.io/v1alpha1/namespaces/mail/relaypools/a")).toBe(false);
    expect(can(operator, "PATCH", "/apis/relayfleet.io/v1alpha1/namespaces/x/relaypools/a/status")).toBe(
      false,
    );
  });

  it("matches groups, and nonResourceURLs (exact and prefix*) only from ClusterRoleBindings", () => {
    expect(can(alice, "GET", "/metrics")).toBe(true);
    expect(can(alice, "GET", "/debug/pprof/heap")).toBe(true);
    expect(can(alice, "POST", "/metrics")).toBe(false);
    expect(can(operator, "GET", "/metrics")).toBe(false);
  });

  it("gives every authenticated user discovery, health and self-reviews, as the bootstrap roles do", () => {
    for (const path of ["/api", "/apis/apps/v1", "/version", "/openapi/v3", "/healthz"])
      expect(can(operator, "GET", path), path).toBe(true);
    expect(can(operator, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")).toBe(true);
    expect(can({ name: "x", groups: [] }, "GET", "/api")).toBe(false);
  });

  it("words a refusal as kube-apiserver does", () => {
    expect(
      forbiddenMessage(attributes(operator, "GET", "/api/v1/namespaces/mail/secrets/relay-api-token")),
    ).toBe(
      'secrets "relay-api-token" is forbidden: User "system:serviceaccount:relayfleet-system:operator" cannot get resource "secrets" in API group "" in the namespace "mail"',
    );
    expect(forbiddenMessage(attributes(operator, "GET", "/apis/apps/v1/deployments"))).toBe(
      'deployments.apps is forbidden: User "system:serviceaccount:relayfleet-system:operator" cannot list resource "deployments" in API group "apps" at the cluster scope',
    );
    expect(
      forbiddenMessage(attributes(operator, "POST", "/api/v1/namespaces/a/serviceaccounts/b/token")),
    ).toBe(
      'serviceaccounts "b" is forbidden: User "system:serviceaccount:relayfleet-system:operator" cannot create resource "serviceaccounts/token" in API group "" in the namespace "a"',
    );
    expect(forbiddenMessage(attributes(operator, "GET", "/metrics"))).toBe(
      'forbidden: User "system:serviceaccount:relayfleet-system:operator" cannot get path "/metrics"',
    );
  });

  it("finds the rules a user would grant without holding them (escalation prevention)", () => {
    const wanted = rulesOf({
      rules: [
        { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] },
      ],
    });
    expect(
      ungrantedRules(alice, "mail", wanted, POLICY).map((rule) => `${rule.verbs[0]} ${rule.resources[0]}`),
    ).toEqual(["get configmaps"]);
    expect(ungrantedRules(alice, "other", wanted, POLICY)).toHaveLength(3);
    expect(ungrantedRules(ADMIN_USER, "other", wanted, POLICY)).toEqual([]);
    // A wildcard is covered only by a wildcard.
    expect(
      ungrantedRules(
        operator,
        "a",
        rulesOf({ rules: [{ apiGroups: [""], resources: ["*"], verbs: ["get"] }] }),
        POLICY,
      ),
    ).toHaveLength(1);
  });
});

describe("TokenAuthenticator", () => {
  it("honours the admin token and issued tokens until they expire or their account changes", () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const accounts = new Map([["mail/op", "uid-1"]]);
    const tokens = new TokenAuthenticator(
      (namespace, name) => accounts.get(`${namespace}/${name}`),
      () => now,
    );
    expect(tokens.authenticate(`Bearer ${ADMIN_TOKEN}`)).toBe(ADMIN_USER);
    const issued = tokens.issue("mail", "op", "uid-1", 600, ["https://kubernetes.default.svc.cluster.local"]);
    expect(issued.expirationTimestamp).toBe("2026-01-01T00:10:00Z");
    // Shaped like a JWT whose claims name the account, as clients that decode it expect.
    const claims = JSON.parse(Buffer.from(issued.token.split(".")[1] ?? "", "base64url").toString());
    expect(claims).toMatchObject({
      sub: "system:serviceaccount:mail:op",
      "kubernetes.io": { namespace: "mail" },
    });
    expect(tokens.authenticate(`Bearer ${issued.token}`)).toMatchObject({
      name: "system:serviceaccount:mail:op",
      groups: ["system:serviceaccounts", "system:serviceaccounts:mail", "system:authenticated"],
    });
    expect(tokens.authenticate(issued.token)).toBeUndefined();
    expect(tokens.authenticate(undefined)).toBeUndefined();
    accounts.set("mail/op", "uid-2");
    expect(tokens.authenticate(`Bearer ${issued.token}`)).toBeUndefined();
    accounts.set("mail/op", "uid-1");
    now += 600_000;
    expect(tokens.authenticate(`Bearer ${issued.token}`)).toBeUndefined();
  });
});
