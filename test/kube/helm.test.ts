/** helm 4.1 (from the lambda layer) installing and upgrading a small chart on the test API server. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, type KubeClients, kubeClients } from "./kube-tools.js";
import { startTestApiServer, type TestApiServer } from "./server.js";

let server: TestApiServer;
let kube: KubeClients;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-helm-"));
  server = await startTestApiServer({ kubeconfigPath: join(dir, "kubeconfig") });
  kube = kubeClients(join(dir, "kubeconfig"), dir);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const chart = fixture("chart");

describe("helm against the test API server", () => {
  it("installs a chart with its CRD, upgrades it, refuses a bad upgrade, and uninstalls it", async () => {
    const install = await kube.helm(["install", "demo", chart, "--wait", "--timeout", "20s"]);
    expect(install.stderr).toBe("");
    expect(install.stdout).toContain("STATUS: deployed");
    expect(
      (
        await kube.kubectl([
          "get",
          "crd",
          "widgets.test.relayfleet.io",
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        ])
      ).stdout,
    ).toBe("True");
    expect(
      (await kube.kubectl(["get", "widget", "demo", "-o", "jsonpath={.spec.size} {.spec.replicas}"])).stdout,
    ).toBe("small 1");
    const release = await kube.kubectl([
      "get",
      "secrets",
      "-l",
      "owner=helm,name=demo",
      "-o",
      "jsonpath={.items[*].metadata.name}",
    ]);
    expect(release.stdout).toBe("sh.helm.release.v1.demo.v1");

    const upgrade = await kube.helm([
      "upgrade",
      "demo",
      chart,
      "--set",
      "size=large",
      "--set",
      "replicas=3",
      "--set",
      "greeting=hi",
      "--wait",
      "--timeout",
      "20s",
    ]);
    expect(upgrade.stderr).toBe("");
    expect(upgrade.stdout).toContain("REVISION: 2");
    expect(
      (
        await kube.kubectl([
          "get",
          "widget",
          "demo",
          "-o",
          "jsonpath={.spec.size} {.spec.replicas} {.metadata.generation}",
        ])
      ).stdout,
    ).toBe("large 3 2");
    expect(
      (await kube.kubectl(["get", "configmap", "demo-settings", "-o", "jsonpath={.data.greeting}"])).stdout,
    ).toBe("hi");
    // Helm 4 applies server-side: the Service's ports (protocol defaulted to TCP) must not be duplicated.
    expect(
      (await kube.kubectl(["get", "service", "demo", "-o", "jsonpath={.spec.ports[*].port}"])).stdout,
    ).toBe("25");

    const bad = await kube.helm(["upgrade", "demo", chart, "--set", "size=giant"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      'Widget.test.relayfleet.io "demo" is invalid: spec.size: Unsupported value: "giant"',
    );
    expect((await kube.helm(["history", "demo", "-o", "json"])).stdout).toContain('"status":"failed"');

    const uninstall = await kube.helm(["uninstall", "demo", "--wait"]);
    expect(uninstall.stdout).toContain('release "demo" uninstalled');
    expect((await kube.kubectl(["get", "widgets,configmaps,services,secrets", "-o", "name"])).stdout).toBe(
      "",
    );
  });
});
