/** @kubernetes/client-node 1.4 against the test API server: CRUD, errors as Status, SSA, and an informer surviving 410. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApiServer, type TestApiServer } from "./server.js";

let server: TestApiServer;
let dir: string;
let kc: k8s.KubeConfig;
const requests: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "relayfleet-client-node-"));
  server = await startTestApiServer({
    kubeconfigPath: join(dir, "kubeconfig"),
    onRequest: (line) => requests.push(line),
  });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(join(dir, "kubeconfig"));
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function statusOf(error: unknown): { code: number; reason: string; message: string } {
  if (!(error instanceof k8s.ApiException)) throw error;
  const body = JSON.parse(String(error.body));
  return { code: error.code, reason: body.reason, message: body.message };
}

describe("@kubernetes/client-node against the test API server", () => {
  it("creates, reads, lists by label and updates with optimistic concurrency", async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const created = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "settings", labels: { app: "relay" } }, data: { a: "1" } },
    });
    expect(created.metadata?.uid).toBeTruthy();
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "other" } } });

    const listed = await core.listNamespacedConfigMap({
      namespace: "default",
      labelSelector: "app in (relay,web)",
    });
    expect(listed.items.map((item) => item.metadata?.name)).toEqual(["settings"]);
    const byName = await core.listNamespacedConfigMap({
      namespace: "default",
      fieldSelector: "metadata.name!=settings",
    });
    expect(byName.items.map((item) => item.metadata?.name)).toEqual(["other"]);

    const stale = structuredClone(created);
    const fresh = await core.replaceNamespacedConfigMap({
      name: "settings",
      namespace: "default",
      body: { ...created, data: { a: "2" } },
    });
    expect(Number(fresh.metadata?.resourceVersion)).toBeGreaterThan(
      Number(created.metadata?.resourceVersion),
    );
    const conflict = await core
      .replaceNamespacedConfigMap({
        name: "settings",
        namespace: "default",
        body: { ...stale, data: { a: "3" } },
      })
      .catch(statusOf);
    expect(conflict).toMatchObject({ code: 409, reason: "Conflict" });
    expect((conflict as { message: string }).message).toContain("the object has been modified");

    const missing = await core
      .readNamespacedConfigMap({ name: "nope", namespace: "default" })
      .catch(statusOf);
    expect(missing).toEqual({ code: 404, reason: "NotFound", message: 'configmaps "nope" not found' });
    const noNamespace = await core
      .createNamespacedConfigMap({ namespace: "ghost", body: { metadata: { name: "x" } } })
      .catch(statusOf);
    expect(noNamespace).toMatchObject({ code: 404, message: 'namespaces "ghost" not found' });
  });

  it("applies server-side with a field manager and reports conflicts between managers", async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const lease = (holder: string): k8s.V1Lease => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "leader", namespace: "default" },
      spec: { holderIdentity: holder, leaseDurationSeconds: 15 },
    });
    await objects.patch(
      lease("a"),
      undefined,
      undefined,
      "operator-a",
      false,
      k8s.PatchStrategy.ServerSideApply,
    );
    const conflict = await objects
      .patch(lease("b"), undefined, undefined, "operator-b", false, k8s.PatchStrategy.ServerSideApply)
      .catch(statusOf);
    expect(conflict).toMatchObject({ code: 409, reason: "Conflict" });
    expect((conflict as { message: string }).message).toContain(
      'conflict with "operator-a" using coordination.k8s.io/v1: .spec.holderIdentity',
    );
    const forced = await objects.patch(
      lease("b"),
      undefined,
      undefined,
      "operator-b",
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
    expect(forced.spec?.holderIdentity).toBe("b");
    const managers = forced.metadata?.managedFields?.map((entry) => `${entry.manager}:${entry.operation}`);
    expect(managers).toEqual(["operator-a:Apply", "operator-b:Apply"]);
  });

  it("keeps an informer's cache right across a watch that ends in 410 Gone, by relisting", async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: "informed" } } });
    const path = "/api/v1/namespaces/informed/configmaps";
    const informer = k8s.makeInformer(kc, path, () =>
      core.listNamespacedConfigMap({ namespace: "informed" }),
    );
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on("add", (object) => seen.push(object.metadata?.name ?? ""));
    informer.on("error", (error) => errors.push(error));
    const lists = () => requests.filter((line) => line.startsWith(`GET ${path} `)).length;
    await informer.start();
    try {
      await core.createNamespacedConfigMap({ namespace: "informed", body: { metadata: { name: "before" } } });
      await expect.poll(() => seen).toEqual(["before"]);
      const listsBefore = lists();

      // Changes elsewhere move the revision on, the history the watch would resume from is
      // compacted away, then the watch drops: resuming gets 410 and the informer must relist.
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "elsewhere" } },
      });
      server.compact();
      server.closeWatches();
      await core.createNamespacedConfigMap({ namespace: "informed", body: { metadata: { name: "after" } } });
      await expect.poll(() => seen.sort()).toEqual(["after", "before"]);
      await expect.poll(lists).toBeGreaterThan(listsBefore);
      expect(
        informer
          .list()
          .map((object) => object.metadata?.name)
          .sort(),
      ).toEqual(["after", "before"]);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});
