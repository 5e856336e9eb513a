/**
 * `helm test` run for real (charts/relayfleet/templates/tests/smtp.yaml): the
 * chart installed with helm into the fleet's test API server, its example
 * RelayPool reconciled into a relay, and the hook Pod's `node -e` script run
 * by the test kubelet as the node program it is (test/kube/kubelet.ts). The
 * Pod resolves the pool's Service name through the kubelet's cluster DNS,
 * does STARTTLS with the certificate verified against the CA from
 * tests.smtp.caSecret for that name, authenticates with tests.smtp.authSecret
 * (the account has no allowedIps, so nothing relays without AUTH) and sends
 * one message, which must reach the SMTP peer playing the recipient's ISP.
 * With a wrong password `helm test` fails and the Pod is left Failed.
 *
 * The chart's operator Deployment is given a nodeSelector no node here
 * matches, so it stays Pending: the test kubelet can run relays and node
 * programs, not an operator with in-cluster credentials. The fleet's own
 * operator process (startFleet) reconciles the chart's RelayPool instead, as
 * the chart's would.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type Fleet, startFleet } from "../e2e/fleet.js";
import { adminToken } from "../e2e/mail.js";
import { kubeClients } from "../kube/kube-tools.js";
import { createTestCa } from "../support/test-ca.js";
import { CHART, helm } from "./chart.js";

type Json = Record<string, unknown>;
const NS = "mail";
const RELEASE = "fleet";
const POOL = "example";
const SERVICE_NAME = `${POOL}-smtp.${NS}.svc`;
const TEST_POD = `${RELEASE}-relayfleet-test-smtp`;
const USERNAME = "helm-test";
const PASSWORD = "correct horse battery staple";
const RECIPIENT = "postmaster@isp-a.test";

const secret = (name: string, data: Record<string, string>, type = "Opaque") => ({
  apiVersion: "v1",
  kind: "Secret",
  type,
  metadata: { name, namespace: NS },
  data: Object.fromEntries(
    Object.entries(data).map(([key, text]) => [key, Buffer.from(text).toString("base64")]),
  ),
});

describe("helm test", () => {
  let fleet: Fleet;
  let dir: string;
  let kubectl: ReturnType<typeof kubeClients>["kubectl"];
  const helmEnv = () => ({
    HOME: join(dir, "home"),
    HELM_CACHE_HOME: join(dir, "home", "helm-cache"),
    HELM_CONFIG_HOME: join(dir, "home", "helm-config"),
    HELM_DATA_HOME: join(dir, "home", "helm-data"),
    KUBECONFIG: fleet.kubeconfigPath,
  });
  const helmTest = () => helm(["test", RELEASE, "-n", NS, "--timeout", "2m"], helmEnv(), 150_000);
  const apply = async (object: Json) => {
    const result = await kubectl(["apply", "-f", "-"], JSON.stringify(object));
    if (result.code !== 0) throw new Error(`kubectl apply: ${result.stderr}`);
  };
  const find = (apiVersion: string, kind: string, name: string) => {
    const type = fleet.server.api.types.findByKind(apiVersion, kind);
    return type ? (fleet.server.api.objects.find(type, NS, name) as Json | undefined) : undefined;
  };
  const testPodLog = () =>
    readFile(join(fleet.workDir, "node", "logs", `${NS}_${TEST_POD}.log`), "utf8").catch(() => "");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "relayfleet-helm-test-"));
    const ca = await createTestCa({ dir: join(dir, "ca") });
    fleet = await startFleet({
      workDir: dir,
      addressPrefix: "127.0.8",
      domains: ["isp-a.test"],
      maxGraceMs: 10_000,
    });
    ({ kubectl } = kubeClients(fleet.kubeconfigPath, dir));
    const peer = fleet.peers.get("isp-a.test");
    if (!peer) throw new Error("no SMTP peer");

    const created = await kubectl(["create", "namespace", NS]);
    if (created.code !== 0) throw new Error(created.stderr);
    // The pool's certificate for the Service name, with its CA, as cert-manager writes it.
    const issued = await ca.issue(SERVICE_NAME);
    await apply(
      secret(
        "example-smtp-tls",
        { "tls.crt": issued.pem, "tls.key": await readFile(issued.key, "utf8"), "ca.crt": ca.caPem },
        "kubernetes.io/tls",
      ),
    );
    await apply(secret("helm-test-login", { user: USERNAME, password: PASSWORD }));

    const values = {
      // No node here matches: the fleet's operator reconciles the pool (see above).
      operator: { replicas: 1, nodeSelector: { "relayfleet.test/node": "elsewhere" } },
      redis: { install: false, url: fleet.redis.url },
      examples: {
        enabled: true,
        senderRoute: {
          name: "default",
          spec: {
            policy: "failover",
            senders: [{ name: "isp-a", host: peer.host, port: peer.port, tls: "none" }],
          },
        },
        relayPool: {
          name: POOL,
          spec: {
            replicas: 1,
            service: { type: "ClusterIP" },
            smtpPorts: [587],
            tls: { secretName: "example-smtp-tls" },
            drain: { timeoutSeconds: 5 },
          },
        },
      },
      tests: {
        smtp: {
          port: 587,
          to: RECIPIENT,
          verifyCertificate: true,
          caSecret: { name: "example-smtp-tls", key: "ca.crt" },
          authSecret: { name: "helm-test-login" },
        },
      },
    };
    await writeFile(join(dir, "values.yaml"), stringify(values));
    const install = await helm(
      ["install", RELEASE, CHART, "-n", NS, "-f", join(dir, "values.yaml")],
      helmEnv(),
      60_000,
    );
    if (install.code !== 0) throw new Error(`helm install: ${install.stderr}`);

    const ready = () =>
      (
        ((find("relayfleet.io/v1alpha1", "RelayPool", POOL)?.status as Json | undefined)?.conditions ??
          []) as Json[]
      ).find((c) => c.type === "Ready")?.status;
    const deadline = Date.now() + 90_000;
    while (ready() !== "True") {
      if (Date.now() > deadline) throw new Error("the example pool is not Ready within 90 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    // The account the test Pod authenticates as: no allowedIps, so AUTH is what lets it relay.
    const relay = fleet.kubelet.pods().find((pod) => pod.name.startsWith(`${POOL}-`) && pod.status.ready);
    if (!relay) throw new Error("no ready relay");
    const response = await fetch(`http://${relay.ip}:8081/v1/accounts/helm-test`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${adminToken(fleet.server, POOL, NS)}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        allowedFrom: ["helm-test@example.com"],
        credentials: [{ username: USERNAME, password: PASSWORD }],
        notify: { toAccountManager: false, toFrom: false },
      }),
    });
    if (!response.ok) throw new Error(`PUT account: HTTP ${response.status} ${await response.text()}`);
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("sends one message through the pool over STARTTLS with AUTH, and it reaches the recipient's ISP", async () => {
    // The chart's operator is unscheduled, not running anywhere.
    const operatorPods = fleet.kubelet
      .pods()
      .filter((pod) => pod.name.startsWith(`${RELEASE}-relayfleet-operator`));
    expect(operatorPods).toEqual([]);

    const result = await helmTest();
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`TEST SUITE:\\s+${TEST_POD}[\\s\\S]*Phase:\\s+Succeeded`));
    expect(await testPodLog()).toMatch(/^accepted: 250 .*queued as/m);
    // hook-succeeded: helm deleted the Pod, and the kubelet let its address go.
    expect(find("v1", "Pod", TEST_POD)).toBeUndefined();
    await expect
      .poll(() => fleet.kubelet.pods().some((pod) => pod.name === TEST_POD), { timeout: 10_000 })
      .toBe(false);

    const peer = fleet.peers.get("isp-a.test");
    await expect
      .poll(() => peer?.received.find((m) => m.to.includes(RECIPIENT)), { timeout: 30_000, interval: 250 })
      .toBeDefined();
    const copy = peer?.received.find((m) => m.to.includes(RECIPIENT));
    expect(copy?.raw.toString("utf8")).toMatch(/^Subject: relayfleet helm test\r?$/m);
  }, 180_000);

  it("fails with a wrong password, leaving the Pod Failed with the container's exit code", async () => {
    await apply(secret("helm-test-login", { user: USERNAME, password: "wrong password" }));
    const result = await helmTest();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(TEST_POD);
    const status = find("v1", "Pod", TEST_POD)?.status as
      | { phase: string; containerStatuses: { state: Json }[] }
      | undefined;
    expect(status?.phase).toBe("Failed");
    expect(status?.containerStatuses[0]?.state).toMatchObject({
      terminated: { exitCode: 1, reason: "Error" },
    });
    expect(await testPodLog()).toMatch(/^not accepted: .*535/m);
  }, 180_000);
});
