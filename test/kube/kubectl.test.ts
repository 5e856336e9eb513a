/** kubectl 1.34 (from the lambda layer) against the test API server, as issue 7 lists. */
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
  dir = await mkdtemp(join(tmpdir(), "relayfleet-kubectl-"));
  server = await startTestApiServer({ kubeconfigPath: join(dir, "kubeconfig") });
  kube = kubeClients(join(dir, "kubeconfig"), dir);
  const crd = await kube.kubectl(["apply", "-f", fixture("widgets-crd.yaml")]);
  expect(crd.stderr).toBe("");
  expect(crd.stdout).toContain(
    "customresourcedefinition.apiextensions.k8s.io/widgets.test.relayfleet.io created",
  );
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function ok(args: string[], stdin?: string): Promise<string> {
  const result = await kube.kubectl(args, stdin);
  expect(result.stderr, `kubectl ${args.join(" ")}`).toBe("");
  expect(result.code).toBe(0);
  return result.stdout;
}

describe("kubectl against the test API server", () => {
  it("applies a custom resource and lists it with the CRD's printer columns", async () => {
    expect(await ok(["apply", "-f", fixture("widget.yaml")])).toBe(
      "widget.test.relayfleet.io/first created\n",
    );
    const table = await ok(["get", "widgets"]);
    const [header, row] = table.trim().split("\n");
    expect(header?.split(/\s+/)).toEqual(["NAME", "SIZE", "REPLICAS", "READY", "AGE"]);
    expect(row).toMatch(/^first\s+small\s+2\s+\d+s$/);
    // Defaults from the schema were filled in; re-applying the same file changes nothing.
    expect(await ok(["get", "wdg", "first", "-o", "jsonpath={.spec.minReplicas}"])).toBe("0");
    expect(await ok(["apply", "-f", fixture("widget.yaml")])).toBe(
      "widget.test.relayfleet.io/first unchanged\n",
    );
  });

  it("refuses invalid custom resources naming each bad field, as a real server does", async () => {
    const bad =
      "apiVersion: test.relayfleet.io/v1alpha1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: huge, replicas: 20, hostname: 'NOT A HOST', ports: [{name: smtp}]}\n";
    const result = await kube.kubectl(["apply", "-f", "-"], bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The Widget "bad" is invalid:');
    expect(result.stderr).toContain(
      'spec.size: Unsupported value: "huge": supported values: "small", "medium", "large"',
    );
    expect(result.stderr).toContain(
      "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10",
    );
    expect(result.stderr).toContain(
      "spec.hostname: Invalid value: \"NOT A HOST\": spec.hostname in body should match '^[a-z0-9.-]+$'",
    );
    expect(result.stderr).toContain("spec.ports[0].port: Required value");

    const rule = await kube.kubectl(
      ["apply", "-f", "-"],
      "apiVersion: test.relayfleet.io/v1alpha1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: small, replicas: 1, minReplicas: 3}\n",
    );
    expect(rule.stderr).toContain(
      'The Widget "bad" is invalid: spec: Invalid value: "object": replicas must be at least minReplicas',
    );

    const unknown = await kube.kubectl(
      ["apply", "-f", "-"],
      "apiVersion: test.relayfleet.io/v1alpha1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: small, colour: red}\n",
    );
    expect(unknown.stderr).toContain('strict decoding error: unknown field "spec.colour"');
    expect((await kube.kubectl(["get", "widget", "bad"])).stderr).toContain(
      'widgets.test.relayfleet.io "bad" not found',
    );
  });

  it("scales a custom resource through its scale subresource, then server-side apply conflicts until forced", async () => {
    expect(await ok(["scale", "widget", "first", "--replicas=5"])).toBe(
      "widget.test.relayfleet.io/first scaled\n",
    );
    expect(
      await ok(["get", "widget", "first", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"]),
    ).toBe("5 2");

    const conflicted = await kube.kubectl(["apply", "--server-side", "-f", fixture("widget.yaml")]);
    expect(conflicted.code).toBe(1);
    expect(conflicted.stderr).toContain(
      'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using test.relayfleet.io/v1alpha1: .spec.replicas',
    );

    expect(await ok(["apply", "--server-side", "--force-conflicts", "-f", fixture("widget.yaml")])).toBe(
      "widget.test.relayfleet.io/first serverside-applied\n",
    );
    const managers = await ok([
      "get",
      "widget",
      "first",
      "--show-managed-fields",
      "-o",
      'jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}{" "}{end}',
    ]);
    expect(managers).toContain("kubectl/Apply");
    expect(await ok(["get", "widget", "first", "-o", "jsonpath={.spec.replicas}"])).toBe("2");
  });

  it("keeps status and spec apart: status writes leave generation alone", async () => {
    await ok([
      "patch",
      "widget",
      "first",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"replicas":2,"conditions":[{"type":"Ready","status":"True"}]}}',
    ]);
    const generation = await ok(["get", "widget", "first", "-o", "jsonpath={.metadata.generation}"]);
    await ok(["patch", "widget", "first", "--type=merge", "-p", '{"status":{"replicas":9}}']);
    expect(
      await ok(["get", "widget", "first", "-o", "jsonpath={.status.replicas} {.metadata.generation}"]),
    ).toBe(`2 ${generation}`);
    expect(await ok(["get", "widget", "first", "--no-headers"])).toMatch(
      /^first\s+small\s+2\s+True\s+\d+s\n$/,
    );
  });

  it("merges built-in lists by key with strategic merge patches (kubectl apply of a Deployment)", async () => {
    const deployment = (image: string, replicas: number) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: ${replicas}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: web, image: ${image}, ports: [{containerPort: 80}], env: [{name: A, value: "1"}]}\n`;
    await ok(["apply", "-f", "-"], deployment("nginx:1.27", 2));
    await ok(["set", "env", "deployment/web", "B=2"]);
    await ok(["apply", "-f", "-"], deployment("nginx:1.28", 3));
    const spec = JSON.parse(await ok(["get", "deployment", "web", "-o", "jsonpath={.spec}"]));
    expect(spec.replicas).toBe(3);
    expect(spec.template.spec.containers).toHaveLength(1);
    expect(spec.template.spec.containers[0].image).toBe("nginx:1.28");
    expect(spec.template.spec.containers[0].env).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "2" },
    ]);
    expect(await ok(["get", "deploy", "web", "--no-headers"])).toMatch(/^web\s+0\/3\s+0\s+0\s+\d+s\n$/);
  });

  it("deletes dependents in the background, keeps them with --cascade=orphan", async () => {
    const owned = async (name: string, owner: string) => {
      const uid = await ok(["get", "deployment", owner, "-o", "jsonpath={.metadata.uid}"]);
      const configMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name,
          ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: owner, uid }],
        },
      };
      await ok(["apply", "-f", "-"], JSON.stringify(configMap));
    };
    await owned("web-config", "web");
    expect(await ok(["delete", "deployment", "web"])).toBe(
      'deployment.apps "web" deleted from default namespace\n',
    );
    await expect
      .poll(async () => (await kube.kubectl(["get", "configmap", "web-config"])).stderr)
      .toContain("not found");

    await ok(
      ["apply", "-f", "-"],
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kept}\nspec:\n  selector: {matchLabels: {app: kept}}\n  template:\n    metadata: {labels: {app: kept}}\n    spec: {containers: [{name: c, image: nginx:1.27}]}\n",
    );
    await owned("kept-config", "kept");
    await ok(["delete", "deployment", "kept", "--cascade=orphan"]);
    await expect
      .poll(async () => (await kube.kubectl(["get", "deployment", "kept"])).stderr)
      .toContain("not found");
    expect(await ok(["get", "configmap", "kept-config", "-o", "jsonpath={.metadata.ownerReferences}"])).toBe(
      "",
    );
  });

  it("deletes a namespace with everything in it", async () => {
    await ok(["create", "namespace", "scratch"]);
    await ok(["create", "configmap", "inside", "-n", "scratch", "--from-literal=a=b"]);
    await ok(["delete", "namespace", "scratch", "--wait=true"]);
    expect((await kube.kubectl(["get", "namespace", "scratch"])).stderr).toContain(
      'namespaces "scratch" not found',
    );
    expect((await kube.kubectl(["create", "configmap", "late", "-n", "scratch"])).stderr).toContain(
      'namespaces "scratch" not found',
    );
  });
});
