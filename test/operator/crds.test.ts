/**
 * The CRDs: the YAML in crds/ is what operator/api prints (one source for
 * types and YAML), kubectl applies it and the examples, shows the printer
 * columns, and the API server refuses invalid resources naming the field.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { crdFiles } from "../../operator/api/crds.js";
import type { RelayPoolSpec } from "../../operator/api/relaypool.js";
import type { SenderRouteSpec } from "../../operator/api/senderroute.js";
import { startTestApiServer, type TestApiServer } from "../kube/index.js";
import { type KubeClients, kubeClients } from "../kube/kube-tools.js";

const root = resolve(import.meta.dirname, "..", "..");
let server: TestApiServer;
let dir: string;
let tools: KubeClients;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-crds-"));
  server = await startTestApiServer({ kubeconfigPath: join(dir, "kubeconfig") });
  tools = kubeClients(join(dir, "kubeconfig"), dir);
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("CRDs", () => {
  it("are exactly what operator/api generates (run `npx tsx operator/api/write-crds.ts` after a change)", () => {
    for (const [name, text] of Object.entries(crdFiles()))
      for (const dir of ["crds", "charts/relayfleet/crds"])
        expect(readFileSync(join(root, dir, name), "utf8"), `${dir}/${name}`).toBe(text);
  });

  it("describe the example resources the TypeScript types describe", () => {
    const docs = parseAllDocuments(readFileSync(join(root, "crds", "examples", "marathon.yaml"), "utf8")).map(
      (d) => d.toJS() as { kind: string; spec: unknown },
    );
    // Compile-time agreement: the example's fields are the types' fields (tsc checks these assignments).
    const pool: Partial<RelayPoolSpec> = docs.find((d) => d.kind === "RelayPool")
      ?.spec as Partial<RelayPoolSpec>;
    const route: Partial<SenderRouteSpec> = docs.find((d) => d.kind === "SenderRoute")
      ?.spec as Partial<SenderRouteSpec>;
    expect(pool.autoscaling?.maxReplicas).toBe(8);
    expect(route.senders?.map((s) => s.name)).toEqual(["out1", "out2"]);
    // Run-time agreement: every key the example uses is in the schema.
    const schemaKeys = (crd: string) => {
      const doc = parseAllDocuments(crdFiles()[crd] ?? "")[0]?.toJS();
      return Object.keys(doc.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties);
    };
    for (const key of Object.keys(pool)) expect(schemaKeys("relayfleet.io_relaypools.yaml")).toContain(key);
    for (const key of Object.keys(route))
      expect(schemaKeys("relayfleet.io_senderroutes.yaml")).toContain(key);
  });

  it("apply with kubectl, with the examples; kubectl shows short names, categories and printer columns", async () => {
    const applied = await tools.kubectl(["apply", "-f", join(root, "crds")]);
    expect(applied.stderr).toBe("");
    expect(applied.stdout).toContain(
      "customresourcedefinition.apiextensions.k8s.io/relaypools.relayfleet.io created",
    );
    await tools.kubectl(["create", "namespace", "mail"]);
    const examples = await tools.kubectl(["apply", "-f", join(root, "crds", "examples")]);
    expect(examples.stdout).toContain("relaypool.relayfleet.io/marathon created");
    const table = await tools.kubectl(["get", "rp", "-n", "mail"]);
    expect(table.stdout.split("\n")[0]?.split(/\s+/)).toEqual([
      "NAME",
      "DESIRED",
      "READY",
      "MODE",
      "ENDPOINTS",
      "AGE",
    ]);
    const category = await tools.kubectl(["get", "relayfleet", "-n", "mail", "-o", "name"]);
    expect(category.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "relaypool.relayfleet.io/marathon",
      "senderroute.relayfleet.io/default",
    ]);
    const scaled = await tools.kubectl(["scale", "rp/marathon", "-n", "mail", "--replicas=5"]);
    expect(scaled.code).toBe(0);
    const replicas = await tools.kubectl([
      "get",
      "rp",
      "marathon",
      "-n",
      "mail",
      "-o",
      "jsonpath={.spec.replicas}",
    ]);
    expect(replicas.stdout).toBe("5");
  });

  it("refuse invalid resources, naming the field", async () => {
    const bad = (spec: string, kind = "RelayPool") =>
      tools.kubectl(
        ["apply", "-f", "-"],
        `apiVersion: relayfleet.io/v1alpha1\nkind: ${kind}\nmetadata: { name: bad, namespace: mail }\nspec:\n${spec}`,
      );
    const cases: [string, string, string][] = [
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  autoscaling: { minReplicas: 5, maxReplicas: 2, target: 1 }",
        "spec.autoscaling.minReplicas",
      ],
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  mode: turbo",
        'spec.mode: Unsupported value: "turbo"',
      ],
      ["RelayPool", '  image: ""\n  redis: { url: redis://r }', "spec.image"],
      ["RelayPool", "  image: x", "spec.redis: Required value"],
      ["RelayPool", "  image: x\n  redis: {}", "spec.redis: Invalid value"],
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  clientIp: { preserve: proxyProtocol }",
        "spec.clientIp.proxyFrom",
      ],
      ["SenderRoute", "  senders: [{ name: a, host: h }, { name: b, mx: true, host: h }]", "spec.senders[1]"],
      [
        "SenderRoute",
        "  senders: [{ name: a, host: h }]\n  domains: [{ match: [x.com], senders: [zz] }]",
        "spec.domains",
      ],
      ["SenderRoute", "  senders: []", "spec.senders"],
      // spec.relay's schema is the relay's own (relay/config/schema.ts): its bounds, enums and patterns.
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  relay: { maxMessageBytes: 10 }",
        "spec.relay.maxMessageBytes: Invalid value: 10",
      ],
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  relay: { logLevel: loud }",
        'spec.relay.logLevel: Unsupported value: "loud"',
      ],
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  relay: { feedback: { prefix: UPPER } }",
        "spec.relay.feedback.prefix",
      ],
      // The operator's own keys are not there: kubectl's strict field validation names them.
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  relay: { dataDir: /tmp }",
        "spec.relay.dataDir",
      ],
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  smtpPorts: [25, 465]",
        "spec.tls: Required value",
      ],
      [
        "RelayPool",
        "  image: x\n  redis: { url: redis://r }\n  service: { type: ClusterIP, publishAddresses: loadBalancer }",
        "spec.service.publishAddresses",
      ],
    ];
    for (const [kind, spec, field] of cases) {
      const result = await bad(spec, kind);
      expect(result.code, spec).not.toBe(0);
      expect(result.stderr, spec).toContain(field);
    }
  });
});
