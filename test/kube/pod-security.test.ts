/**
 * Pod Security: the pure checks against the levels' rules, then the admission
 * plugin in the test API server through kubectl (a refused Pod, an accepted
 * one, a Deployment admitted with a Warning).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "./json.js";
import { type KubeClients, kubeClients } from "./kube-tools.js";
import {
  describeViolations,
  namespacePolicy,
  podSecurityDecision,
  podSecurityViolations,
} from "./pod-security.js";
import { startTestApiServer, type TestApiServer } from "./server.js";

const HARDENED: JsonObject = {
  securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
  containers: [
    {
      name: "relay",
      image: "relayfleet:0.1.0",
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
        readOnlyRootFilesystem: true,
      },
    },
  ],
  volumes: [
    { name: "tmp", emptyDir: {} },
    { name: "config", configMap: { name: "c" } },
    { name: "spool", persistentVolumeClaim: { claimName: "s" } },
  ],
};

const PLAIN: JsonObject = { containers: [{ name: "relay", image: "relayfleet:0.1.0" }] };

const withSpec = (changes: JsonObject): JsonObject => ({ ...structuredClone(HARDENED), ...changes });
const checks = (level: "baseline" | "restricted", spec: JsonObject) =>
  podSecurityViolations(level, spec).map((v) => v.check);

describe("podSecurityViolations", () => {
  it("passes a hardened pod at every level", () => {
    expect(podSecurityViolations("restricted", HARDENED)).toEqual([]);
    expect(podSecurityViolations("baseline", HARDENED)).toEqual([]);
  });

  it("names every restricted rule a plain pod breaks, in the plugin's order and words", () => {
    expect(
      `violates PodSecurity "restricted:latest": ${describeViolations(podSecurityViolations("restricted", PLAIN))}`,
    ).toBe(
      'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "relay" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "relay" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "relay" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "relay" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
    // Baseline allows a plain pod.
    expect(podSecurityViolations("baseline", PLAIN)).toEqual([]);
    expect(podSecurityViolations("privileged", { hostNetwork: true })).toEqual([]);
  });

  it("accepts the settings at the container level as well as the pod level", () => {
    const containerLevel = {
      containers: [
        {
          name: "a",
          securityContext: {
            runAsNonRoot: true,
            seccompProfile: { type: "Localhost", localhostProfile: "p.json" },
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    };
    expect(podSecurityViolations("restricted", containerLevel)).toEqual([]);
  });

  it("refuses root, capabilities beyond NET_BIND_SERVICE and explicit opt-outs", () => {
    const spec = withSpec({
      securityContext: { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: "Unconfined" } },
      initContainers: [
        {
          name: "init",
          securityContext: { runAsUser: 0, capabilities: { add: ["SYS_ADMIN", "NET_ADMIN"] } },
        },
      ],
    });
    const found = podSecurityViolations("restricted", spec);
    expect(found.map((v) => v.check)).toEqual([
      "allowPrivilegeEscalation",
      "capabilities_restricted",
      "runAsNonRoot",
      "runAsUser",
      "seccompProfile_restricted",
    ]);
    expect(found.find((v) => v.check === "capabilities_restricted")?.detail).toBe(
      'container "init" must set securityContext.capabilities.drop=["ALL"]; container "init" must not include "NET_ADMIN", "SYS_ADMIN" in securityContext.capabilities.add',
    );
    expect(found.find((v) => v.check === "runAsNonRoot")?.detail).toBe(
      "pod must not set securityContext.runAsNonRoot=false",
    );
    expect(found.find((v) => v.check === "runAsUser")?.detail).toBe(
      'pod and container "init" must not set runAsUser=0',
    );
    expect(found.find((v) => v.check === "seccompProfile_restricted")?.detail).toBe(
      'pod must not set securityContext.seccompProfile.type to "Unconfined"',
    );
  });

  it("refuses volume types outside the restricted list, hostPath at baseline too", () => {
    const spec = withSpec({
      volumes: [
        { name: "logs", hostPath: { path: "/var/log" } },
        { name: "share", nfs: { server: "nfs", path: "/" } },
        { name: "tmp", emptyDir: {} },
      ],
    });
    expect(
      podSecurityViolations("restricted", spec).find((v) => v.check === "restrictedVolumes")?.detail,
    ).toBe('volumes "logs", "share" use restricted volume types "hostPath", "nfs"');
    expect(podSecurityViolations("baseline", spec)).toEqual([
      { check: "hostPathVolumes", reason: "hostPath volumes", detail: 'volume "logs"' },
    ]);
  });

  it("checks baseline's host namespaces, privileged, hostPort, capabilities, seccomp and procMount", () => {
    const spec: JsonObject = {
      hostNetwork: true,
      hostPID: true,
      securityContext: { seccompProfile: { type: "Unconfined" } },
      containers: [
        {
          name: "a",
          ports: [{ containerPort: 25, hostPort: 25 }],
          securityContext: {
            privileged: true,
            capabilities: { add: ["CHOWN", "NET_RAW"] },
            procMount: "Unmasked",
          },
        },
      ],
    };
    const found = podSecurityViolations("baseline", spec);
    expect(describeViolations(found)).toBe(
      'non-default capabilities (container "a" must not include "NET_RAW" in securityContext.capabilities.add), host namespaces (hostNetwork=true, hostPID=true), hostPort (container "a" uses hostPort 25), privileged (container "a" must not set securityContext.privileged=true), procMount (container "a" must not set securityContext.procMount to "Unmasked"), seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
    );
    // Restricted includes baseline: the same pod breaks it in more ways.
    expect(checks("restricted", spec)).toEqual(
      expect.arrayContaining(["hostNamespaces", "privileged", "hostPorts", "allowPrivilegeEscalation"]),
    );
  });
});

describe("podSecurityDecision", () => {
  const restricted = namespacePolicy({ "pod-security.kubernetes.io/enforce": "restricted" });

  it("refuses a pod on the enforce level, warns a workload instead", () => {
    expect(podSecurityDecision(restricted, PLAIN, true).refusal).toMatch(
      /^violates PodSecurity "restricted:latest": /,
    );
    const workload = podSecurityDecision(restricted, PLAIN, false);
    expect(workload.refusal).toBeUndefined();
    expect(workload.warnings).toHaveLength(1);
    expect(workload.warnings[0]).toMatch(
      /^would violate PodSecurity "restricted:latest": allowPrivilegeEscalation/,
    );
  });

  it("warns on the warn level and names the version label", () => {
    const policy = namespacePolicy({
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/warn-version": "v1.34",
    });
    const decision = podSecurityDecision(policy, PLAIN, true);
    expect(decision.refusal).toBeUndefined();
    expect(decision.warnings).toEqual([
      `would violate PodSecurity "restricted:v1.34": ${describeViolations(podSecurityViolations("restricted", PLAIN))}`,
    ]);
    expect(podSecurityDecision(namespacePolicy({}), { hostPID: true }, true)).toEqual({ warnings: [] });
  });
});

describe("PodSecurity admission in the test API server", () => {
  let server: TestApiServer;
  let kube: KubeClients;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "relayfleet-podsecurity-"));
    server = await startTestApiServer({ kubeconfigPath: join(dir, "kubeconfig") });
    kube = kubeClients(join(dir, "kubeconfig"), dir);
    await kube.kubectl(["create", "namespace", "open"]);
    const labelled = await kube.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "mail", labels: { "pod-security.kubernetes.io/enforce": "restricted" } },
      }),
    );
    expect(labelled.stderr).toBe("");
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const pod = (spec: JsonObject) =>
    JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "relay" }, spec });

  it("refuses a pod that breaks restricted in a labelled namespace, with the plugin's message", async () => {
    const refused = await kube.kubectl(["apply", "-n", "mail", "-f", "-"], pod(PLAIN));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      'pods "relay" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "relay" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities',
    );
    expect((await kube.kubectl(["get", "pods", "-n", "mail", "-o", "name"])).stdout).toBe("");
  });

  it("accepts the same pod in an unlabelled namespace, and a hardened one in the labelled one", async () => {
    const open = await kube.kubectl(["apply", "-n", "open", "-f", "-"], pod(PLAIN));
    expect(open.stderr).toBe("");
    const hardened = await kube.kubectl(["apply", "-n", "mail", "-f", "-"], pod(HARDENED));
    expect(hardened.stderr).toBe("");
    expect(hardened.stdout).toContain("pod/relay created");
  });

  it("admits a Deployment whose template breaks restricted, with a Warning", async () => {
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "relays" },
      spec: {
        selector: { matchLabels: { app: "relay" } },
        template: { metadata: { labels: { app: "relay" } }, spec: PLAIN },
      },
    };
    const applied = await kube.kubectl(["apply", "-n", "mail", "-f", "-"], JSON.stringify(deployment));
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain("deployment.apps/relays created");
    expect(applied.stderr).toContain(
      'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "relay" must set securityContext.allowPrivilegeEscalation=false)',
    );
  });
});
