/**
 * The chart's least privilege and hardening, on the rendered objects: every
 * pod template meets Pod Security "restricted" (checked by the same function
 * the test API server admits pods with), Secrets are granted per pool
 * namespace only, the bundled Redis has a password, protected mode and a
 * NetworkPolicy, and the `helm test` Pod renders as it should.
 */
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../kube/json.js";
import { podSecurityViolations, podSpecOf } from "../kube/pod-security.js";
import { findDoc, type KubeDoc, renderChart, VALUE_SETS } from "./chart.js";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface ContainerView {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: { readOnlyRootFilesystem?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

const groupOf = (doc: KubeDoc) => (doc.apiVersion.includes("/") ? (doc.apiVersion.split("/")[0] ?? "") : "");
const podSpecs = (docs: KubeDoc[]) =>
  docs.flatMap((doc) => {
    const spec = podSpecOf(groupOf(doc), doc.kind, doc as unknown as JsonObject);
    return spec ? [{ doc: `${doc.kind}/${doc.metadata.name}`, spec }] : [];
  });
const containersOf = (spec: JsonObject) => (spec.containers ?? []) as unknown as ContainerView[];

describe("Pod Security", () => {
  it.each(Object.entries(VALUE_SETS))(
    "every pod template meets restricted, read-only root: %s",
    async (_name, values) => {
      const docs = await renderChart([...values, "--set", "examples.enabled=true"]);
      const specs = podSpecs(docs);
      expect(specs.length).toBeGreaterThanOrEqual(2);
      for (const { doc, spec } of specs) {
        expect(podSecurityViolations("restricted", spec), doc).toEqual([]);
        for (const container of containersOf(spec))
          expect(container.securityContext?.readOnlyRootFilesystem, `${doc} ${container.name}`).toBe(true);
      }
    },
  );

  it("gives the operator a writable /tmp on its read-only root", async () => {
    const operator = findDoc(await renderChart([]), "Deployment") as unknown as {
      spec: { template: { spec: JsonObject & { volumes: { name: string; emptyDir?: unknown }[] } } };
    };
    const spec = operator.spec.template.spec;
    expect(containersOf(spec)[0]?.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(spec.volumes.find((v) => v.name === "tmp")?.emptyDir).toBeDefined();
  });
});

describe("RBAC: Secrets per pool namespace only", () => {
  const rulesOf = (doc: KubeDoc) => (doc as unknown as { rules: Rule[] }).rules;
  const secretRoles = (docs: KubeDoc[]) =>
    docs
      .filter((d) => d.kind === "Role" && rulesOf(d).some((r) => r.resources.includes("secrets")))
      .map((d) => d.metadata.namespace)
      .sort();

  it("leaves Secrets out of the ClusterRole, and gives get and create (no list, no watch) in the release namespace by default", async () => {
    const docs = await renderChart([]);
    const cluster = findDoc(docs, "ClusterRole");
    expect(
      rulesOf(cluster).filter((r) => r.resources.includes("secrets") || r.resources.includes("*")),
    ).toEqual([]);
    expect(secretRoles(docs)).toEqual(["relayfleet-system"]);
    const role = findDoc(docs, "Role", "fleet-relayfleet-operator-secrets");
    expect(rulesOf(role)).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "create"] }]);
    const binding = docs.find(
      (d) => d.kind === "RoleBinding" && d.metadata.name === "fleet-relayfleet-operator-secrets",
    ) as unknown as { subjects: unknown[]; roleRef: unknown };
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "fleet-relayfleet", namespace: "relayfleet-system" },
    ]);
  });

  it("makes one Role and RoleBinding per listed namespace, plus the examples' namespace", async () => {
    const docs = await renderChart([
      "--set",
      "rbac.poolNamespaces={mail,news}",
      "--set",
      "examples.enabled=true",
      "--set",
      "examples.namespace=promo",
    ]);
    expect(secretRoles(docs)).toEqual(["mail", "news", "promo"]);
    expect(
      docs
        .filter((d) => d.kind === "RoleBinding" && d.metadata.name.endsWith("-operator-secrets"))
        .map((d) => d.metadata.namespace)
        .sort(),
    ).toEqual(["mail", "news", "promo"]);
    // Not in the release namespace once the list names others.
    expect(secretRoles(docs)).not.toContain("relayfleet-system");
  });

  it("refuses a namespace name that is not one", async () => {
    await expect(renderChart(["--set", "rbac.poolNamespaces={Mail_Box}"])).rejects.toThrow(
      "at '/rbac/poolNamespaces/0': 'Mail_Box' does not match pattern",
    );
  });
});

describe("the bundled Redis", () => {
  it("gets a generated password in a Secret, with the URL that carries it", async () => {
    const first = await renderChart([]);
    const secret = findDoc(first, "Secret", "fleet-relayfleet-redis") as unknown as {
      data: { password: string; url: string };
    };
    const password = Buffer.from(secret.data.password, "base64").toString();
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(Buffer.from(secret.data.url, "base64").toString()).toBe(
      `redis://:${password}@fleet-relayfleet-redis.relayfleet-system.svc:6379/0`,
    );
    // helm template sees no cluster, so each render makes a new one (an install keeps it: chart.test.ts).
    const second = findDoc(await renderChart([]), "Secret", "fleet-relayfleet-redis") as unknown as {
      data: { password: string };
    };
    expect(second.data.password).not.toBe(secret.data.password);
    // No URL with a password in any spec.
    expect(JSON.stringify(first.filter((d) => d.kind !== "Secret"))).not.toContain("redis://");
  });

  it("runs with requirepass from the Secret and protected mode on; the probe authenticates from the environment", async () => {
    const statefulSet = findDoc(await renderChart([]), "StatefulSet") as unknown as {
      spec: { template: { spec: JsonObject } };
    };
    const [redis] = containersOf(statefulSet.spec.template.spec);
    const args = redis?.args ?? [];
    expect(args[args.indexOf("--protected-mode") + 1]).toBe("yes");
    expect(args[args.indexOf("--requirepass") + 1]).toBe("$(REDIS_PASSWORD)");
    const fromSecret = { secretKeyRef: { name: "fleet-relayfleet-redis", key: "password" } };
    expect(redis?.env).toEqual([
      { name: "REDIS_PASSWORD", valueFrom: fromSecret },
      { name: "REDISCLI_AUTH", valueFrom: fromSecret },
    ]);
  });

  it("lets only relay pods and the operator reach it, on 6379", async () => {
    const policy = findDoc(await renderChart([]), "NetworkPolicy") as unknown as { spec: JsonObject };
    expect(policy.spec).toEqual({
      podSelector: {
        matchLabels: {
          "app.kubernetes.io/name": "relayfleet",
          "app.kubernetes.io/instance": "fleet",
          "app.kubernetes.io/component": "redis",
        },
      },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              podSelector: {
                matchLabels: {
                  "app.kubernetes.io/name": "relayfleet",
                  "app.kubernetes.io/instance": "fleet",
                  "app.kubernetes.io/component": "operator",
                },
              },
            },
            {
              namespaceSelector: {},
              // What operator/specs/labels.ts puts on every relay pod.
              podSelector: {
                matchLabels: {
                  "app.kubernetes.io/name": "relayfleet",
                  "app.kubernetes.io/component": "relay",
                  "app.kubernetes.io/managed-by": "relayfleet-operator",
                },
              },
            },
          ],
          ports: [{ port: 6379, protocol: "TCP" }],
        },
      ],
    });
    const off = await renderChart(["--set", "redis.networkPolicy.enabled=false"]);
    expect(off.map((d) => d.kind)).not.toContain("NetworkPolicy");
  });

  it("copies the URL Secret into the examples' namespace for the example pool", async () => {
    const docs = await renderChart(["--set", "examples.enabled=true", "--set", "examples.namespace=mail"]);
    const secrets = docs.filter((d) => d.kind === "Secret");
    expect(secrets.map((d) => `${d.metadata.namespace}/${d.metadata.name}`).sort()).toEqual([
      "mail/fleet-relayfleet-redis",
      "relayfleet-system/fleet-relayfleet-redis",
    ]);
    const [copy, original] = ["mail", "relayfleet-system"].map(
      (ns) =>
        (secrets.find((d) => d.metadata.namespace === ns) as unknown as { data: Record<string, string> })
          .data,
    );
    expect(copy).toEqual({ url: original?.url });
    const pool = findDoc(docs, "RelayPool") as unknown as { spec: { redis: unknown } };
    expect(pool.spec.redis).toEqual({ secretRef: { name: "fleet-relayfleet-redis", key: "url" } });
  });
});

describe("helm test", () => {
  interface TestPod {
    metadata: { name: string; namespace: string; annotations: Record<string, string> };
    spec: JsonObject & { restartPolicy: string; automountServiceAccountToken: boolean };
  }
  const testPod = (docs: KubeDoc[]) => docs.find((d) => d.kind === "Pod") as unknown as TestPod | undefined;

  it("renders a hook Pod that sends one message through the example pool over STARTTLS", async () => {
    const docs = await renderChart(["--set", "examples.enabled=true", "--set", "examples.namespace=mail"]);
    const pod = testPod(docs);
    expect(pod?.metadata).toMatchObject({
      name: "fleet-relayfleet-test-smtp",
      namespace: "mail",
      annotations: {
        "helm.sh/hook": "test",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
      },
    });
    expect(pod?.spec.restartPolicy).toBe("Never");
    expect(pod?.spec.automountServiceAccountToken).toBe(false);
    const [container] = containersOf(pod?.spec ?? {});
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toEqual({
      SMTP_HOST: "example-smtp.mail.svc",
      SMTP_PORT: "587",
      SMTP_VERIFY_CERTIFICATE: "false",
      MAIL_FROM: "helm-test@example.com",
      MAIL_TO: "postmaster@example.com",
    });
    const script = container?.args?.[0] ?? "";
    expect(script).toContain('require("nodemailer")');
    expect(script).toContain("requireTLS: true");
    expect(script).toContain("process.exit(1)");
    expect(script).toContain("if (env.SMTP_CA) tls.ca = env.SMTP_CA;");
  });

  it("reads SMTP AUTH and the CA from Secrets when they are named, and is left out without the example pool", async () => {
    const docs = await renderChart([
      "--set",
      "examples.enabled=true",
      "--set",
      "tests.smtp.authSecret.name=helm-test-login",
      "--set",
      "tests.smtp.caSecret.name=example-smtp-tls",
      "--set",
      "tests.smtp.port=25",
    ]);
    const [container] = containersOf(testPod(docs)?.spec ?? {});
    expect(container?.env?.filter((e) => e.valueFrom)).toEqual([
      { name: "SMTP_CA", valueFrom: { secretKeyRef: { name: "example-smtp-tls", key: "ca.crt" } } },
      { name: "SMTP_USER", valueFrom: { secretKeyRef: { name: "helm-test-login", key: "user" } } },
      { name: "SMTP_PASSWORD", valueFrom: { secretKeyRef: { name: "helm-test-login", key: "password" } } },
    ]);
    expect(container?.env?.find((e) => e.name === "SMTP_PORT")?.value).toBe("25");
    expect(testPod(await renderChart([]))).toBeUndefined();
    expect(
      testPod(await renderChart(["--set", "examples.enabled=true", "--set", "tests.smtp.enabled=false"])),
    ).toBeUndefined();
  });
});
