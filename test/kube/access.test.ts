/**
 * Authentication and RBAC in the test API server, end to end: no token is
 * 401; the chart's own RBAC (helm template of charts/relayfleet) is applied,
 * then kubectl and @kubernetes/client-node act as the operator's
 * ServiceAccount with a TokenRequest token and get exactly what the chart
 * grants (403 with kube-apiserver's message otherwise). Also `kubectl auth
 * can-i` and RBAC escalation prevention.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { httpsFetch } from "./https-fetch.js";
import { type KubeClients, kubeClients } from "./kube-tools.js";
import { kubeconfigText, startTestApiServer, type TestApiServer } from "./server.js";

const CHART = resolve(import.meta.dirname, "../../charts/relayfleet");
const RELEASE_NAMESPACE = "relayfleet-system";
const OPERATOR_SA = "fleet-relayfleet";
const OPERATOR_USER = `system:serviceaccount:${RELEASE_NAMESPACE}:${OPERATOR_SA}`;

let server: TestApiServer;
let dir: string;
let admin: KubeClients;
/** kubectl as the operator's ServiceAccount, with a token from `kubectl create token`. */
let operator: KubeClients;
let operatorKubeconfig: string;

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-access-"));
  server = await startTestApiServer({ kubeconfigPath: join(dir, "kubeconfig") });
  admin = kubeClients(join(dir, "kubeconfig"), join(dir, "admin"));
  for (const ns of [RELEASE_NAMESPACE, "mail", "other"]) await admin.kubectl(["create", "namespace", ns]);
  const crds = await admin.kubectl(["apply", "--server-side", "-f", join(CHART, "crds")]);
  expect(crds.stderr).toBe("");

  // The chart's RBAC exactly as helm renders it, pools in "mail".
  const rendered = await admin.helm([
    "template",
    "fleet",
    CHART,
    "--namespace",
    RELEASE_NAMESPACE,
    "--set",
    "rbac.poolNamespaces={mail}",
  ]);
  expect(rendered.stderr).toBe("");
  const rbacKinds = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
  const docs = parseAllDocuments(rendered.stdout)
    .map((doc) => doc.toJS() as Doc | null)
    .filter((doc): doc is Doc => doc !== null && rbacKinds.has(doc.kind));
  expect(
    docs
      .filter((d) => d.kind === "Role")
      .map((d) => `${d.metadata.namespace}/${d.metadata.name}`)
      .sort(),
  ).toEqual([
    "mail/fleet-relayfleet-operator-secrets",
    `${RELEASE_NAMESPACE}/fleet-relayfleet-leader-election`,
  ]);
  const applied = await admin.kubectl(
    ["apply", "-f", "-"],
    docs.map((d) => JSON.stringify(d)).join("\n---\n"),
  );
  expect(applied.stderr).toBe("");

  const token = await admin.kubectl(["create", "token", OPERATOR_SA, "-n", RELEASE_NAMESPACE]);
  expect(token.stderr).toBe("");
  operatorKubeconfig = join(dir, "operator-kubeconfig");
  await writeFile(
    operatorKubeconfig,
    kubeconfigText(server.url, server.ca, {
      token: token.stdout.trim(),
      user: "operator",
      namespace: "mail",
    }),
  );
  operator = kubeClients(operatorKubeconfig, join(dir, "operator"));
  // A Secret in each namespace for the operator to try.
  for (const ns of ["mail", "other"])
    await admin.kubectl([
      "create",
      "secret",
      "generic",
      "example-api-token",
      "-n",
      ns,
      "--from-literal=token=t",
    ]);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("authentication", () => {
  it.each([
    ["no token", null],
    ["an unknown token", "not-a-token"],
  ])("answers a request with %s 401 Unauthorized, as kube-apiserver does", async (_name, token) => {
    for (const path of ["/api/v1/namespaces/mail/secrets", "/version", "/apis"]) {
      const response = await httpsFetch(server, path, { token });
      expect(response.status, path).toBe(401);
      expect(await response.json()).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
    }
  });

  it("keeps the kubeconfig's token a cluster admin", async () => {
    const secrets = await admin.kubectl(["get", "secrets", "-A", "-o", "name"]);
    expect(secrets.stderr).toBe("");
    expect(secrets.stdout).toContain("secret/example-api-token");
    expect((await admin.kubectl(["auth", "can-i", "*", "*", "--all-namespaces"])).stdout.trim()).toBe("yes");
  });

  it("issues TokenRequest tokens that name the ServiceAccount, and stops honouring them when it is deleted", async () => {
    const whoami = await httpsFetch(server, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      method: "POST",
      token: server.tokenFor(RELEASE_NAMESPACE, OPERATOR_SA),
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        spec: { resourceAttributes: { verb: "get", resource: "secrets", namespace: "mail" } },
      }),
    });
    expect(whoami.status).toBe(201);
    expect(await whoami.json()).toMatchObject({ kind: "SelfSubjectAccessReview", status: { allowed: true } });

    await admin.kubectl(["create", "serviceaccount", "short-lived", "-n", "other"]);
    const token = server.tokenFor("other", "short-lived");
    const path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    const review = { spec: { nonResourceAttributes: { path: "/version", verb: "get" } } };
    const ask = () =>
      httpsFetch(server, path, {
        method: "POST",
        token,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(review),
      });
    expect((await ask()).status).toBe(201);
    await admin.kubectl(["delete", "serviceaccount", "short-lived", "-n", "other"]);
    // A new account of the same name has a new uid: the old token stays dead.
    await admin.kubectl(["create", "serviceaccount", "short-lived", "-n", "other"]);
    expect((await ask()).status).toBe(401);

    const missing = await admin.kubectl(["create", "token", "nobody", "-n", "other"]);
    expect(missing.stderr).toContain('serviceaccounts "nobody" not found');
    const tooShort = await admin.kubectl([
      "create",
      "token",
      OPERATOR_SA,
      "-n",
      RELEASE_NAMESPACE,
      "--duration=1m",
    ]);
    expect(tooShort.stderr).toContain(
      "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
    );
  });
});

describe("the chart's RBAC, enforced: kubectl as the operator", () => {
  it("reads a Secret by name in a pool namespace, and is refused one anywhere else with the real message", async () => {
    const allowed = await operator.kubectl([
      "get",
      "secret",
      "example-api-token",
      "-n",
      "mail",
      "-o",
      "name",
    ]);
    expect(allowed.stderr).toBe("");
    expect(allowed.stdout.trim()).toBe("secret/example-api-token");

    const refused = await operator.kubectl(["get", "secret", "example-api-token", "-n", "other"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toBe(
      `Error from server (Forbidden): secrets "example-api-token" is forbidden: User "${OPERATOR_USER}" cannot get resource "secrets" in API group "" in the namespace "other"`,
    );
  });

  it("creates a Secret in a pool namespace, but may not list or watch Secrets even there", async () => {
    const created = await operator.kubectl([
      "create",
      "secret",
      "generic",
      "made",
      "-n",
      "mail",
      "--from-literal=k=v",
    ]);
    expect(created.stderr).toBe("");
    const listed = await operator.kubectl(["get", "secrets", "-n", "mail"]);
    expect(listed.stderr).toContain(
      `secrets is forbidden: User "${OPERATOR_USER}" cannot list resource "secrets" in API group "" in the namespace "mail"`,
    );
    const everywhere = await operator.kubectl(["get", "secrets", "-A"]);
    expect(everywhere.stderr).toContain(
      `cannot list resource "secrets" in API group "" at the cluster scope`,
    );
  });

  it("is who kubectl auth whoami says", async () => {
    const whoami = await operator.kubectl(["auth", "whoami", "-o", "json"]);
    expect(whoami.stderr).toBe("");
    expect(JSON.parse(whoami.stdout).status.userInfo).toMatchObject({
      username: OPERATOR_USER,
      groups: [
        "system:serviceaccounts",
        `system:serviceaccounts:${RELEASE_NAMESPACE}`,
        "system:authenticated",
      ],
    });
  });

  it("answers kubectl auth can-i from the same rules", async () => {
    const can = async (...args: string[]) =>
      (await operator.kubectl(["auth", "can-i", ...args])).stdout.trim();
    expect(await can("get", "secrets", "-n", "mail")).toBe("yes");
    expect(await can("create", "secrets", "-n", "mail")).toBe("yes");
    expect(await can("get", "secrets", "-n", "other")).toBe("no");
    expect(await can("delete", "secrets", "-n", "mail")).toBe("no");
    expect(await can("watch", "relaypools.relayfleet.io", "--all-namespaces")).toBe("yes");
    expect(await can("patch", "relaypools.relayfleet.io", "--subresource=status", "-n", "other")).toBe("yes");
    // patch on the object itself is granted for the drain finalizer; nothing else writes it.
    expect(await can("patch", "relaypools.relayfleet.io", "-n", "other")).toBe("yes");
    expect(await can("update", "relaypools.relayfleet.io", "-n", "other")).toBe("no");
    expect(await can("delete", "relaypools.relayfleet.io", "-n", "other")).toBe("no");
    expect(
      await can("update", "leases.coordination.k8s.io/relayfleet-operator", "-n", RELEASE_NAMESPACE),
    ).toBe("yes");
    expect(await can("update", "leases.coordination.k8s.io/someone-else", "-n", RELEASE_NAMESPACE)).toBe(
      "no",
    );
  });
});

describe("the chart's RBAC, enforced: @kubernetes/client-node as the operator", () => {
  const statusOf = (error: unknown) => {
    if (!(error instanceof k8s.ApiException)) throw error;
    const body = JSON.parse(String(error.body)) as { reason: string; message: string };
    return { code: error.code, reason: body.reason, message: body.message };
  };

  it("gets what the chart grants and a 403 Status for the rest", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(await server.kubeconfigFor(RELEASE_NAMESPACE, OPERATOR_SA));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const secret = await core.readNamespacedSecret({ name: "example-api-token", namespace: "mail" });
    expect(Buffer.from(secret.data?.token ?? "", "base64").toString()).toBe("t");
    const refused = await core
      .readNamespacedSecret({ name: "example-api-token", namespace: "other" })
      .then(() => undefined, statusOf);
    expect(refused).toEqual({
      code: 403,
      reason: "Forbidden",
      message: `secrets "example-api-token" is forbidden: User "${OPERATOR_USER}" cannot get resource "secrets" in API group "" in the namespace "other"`,
    });
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const pools = await custom.listClusterCustomObject({
      group: "relayfleet.io",
      version: "v1alpha1",
      plural: "relaypools",
    });
    expect(pools).toMatchObject({ items: [] });
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    // The operator may create StatefulSets, but not DaemonSets (an unknown resource here: still 403, not 404).
    const daemonSets = await apps.listDaemonSetForAllNamespaces().then(() => undefined, statusOf);
    expect(daemonSets?.code).toBe(403);
  });
});

describe("RBAC escalation prevention", () => {
  it("lets a user grant in a Role only what it holds itself", async () => {
    // A namespace admin of "other" for Roles and ConfigMaps, nothing about Secrets.
    await admin.kubectl(["create", "serviceaccount", "maker", "-n", "other"]);
    const grant = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "maker", namespace: "other" },
      rules: [
        {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["roles", "rolebindings"],
          verbs: ["create", "get", "patch"],
        },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] },
      ],
    };
    const bind = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "maker", namespace: "other" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "maker" },
      subjects: [{ kind: "ServiceAccount", name: "maker", namespace: "other" }],
    };
    expect(
      (await admin.kubectl(["apply", "-f", "-"], `${JSON.stringify(grant)}\n---\n${JSON.stringify(bind)}`))
        .stderr,
    ).toBe("");
    await server.kubeconfigFor("other", "maker", join(dir, "maker-kubeconfig"));
    const maker = kubeClients(join(dir, "maker-kubeconfig"), join(dir, "maker"));
    const role = (name: string, rule: object) =>
      JSON.stringify({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name, namespace: "other" },
        rules: [rule],
      });

    const held = await maker.kubectl(
      ["create", "-f", "-"],
      role("readers", { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }),
    );
    expect(held.stderr).toBe("");
    const escalating = await maker.kubectl(
      ["create", "-f", "-"],
      role("thieves", { apiGroups: [""], resources: ["secrets"], verbs: ["get"] }),
    );
    expect(escalating.stderr).toContain(
      'roles.rbac.authorization.k8s.io "thieves" is forbidden: user "system:serviceaccount:other:maker" (groups=["system:serviceaccounts" "system:serviceaccounts:other" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
    );
    // Server-side apply is checked on the object it would store, created or patched.
    const applied = await maker.kubectl(
      ["apply", "--server-side", "-f", "-"],
      role("appliers", { apiGroups: [""], resources: ["secrets"], verbs: ["list"] }),
    );
    expect(applied.stderr).toContain(
      'roles.rbac.authorization.k8s.io "appliers" is forbidden: user "system:serviceaccount:other:maker"',
    );
    const widened = await maker.kubectl(
      ["apply", "--server-side", "-f", "-"],
      role("readers", { apiGroups: [""], resources: ["configmaps", "secrets"], verbs: ["get"] }),
    );
    expect(widened.stderr).toContain('{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}');
    // Binding a role with more than it holds is escalation too.
    const bindAdmin = await maker.kubectl(
      ["create", "-f", "-"],
      JSON.stringify({
        ...bind,
        metadata: { name: "mine", namespace: "other" },
        roleRef: { ...bind.roleRef, kind: "ClusterRole", name: "fleet-relayfleet-operator" },
      }),
    );
    expect(bindAdmin.stderr).toContain("is attempting to grant RBAC permissions not currently held");
    expect(
      (await admin.kubectl(["get", "roles,rolebindings", "-n", "other", "-o", "name"])).stdout
        .trim()
        .split("\n")
        .sort(),
    ).toEqual([
      "role.rbac.authorization.k8s.io/maker",
      "role.rbac.authorization.k8s.io/readers",
      "rolebinding.rbac.authorization.k8s.io/maker",
    ]);
  });
});
