/** API semantics checked over plain HTTP, where kubectl and helm would hide the details. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpsFetch } from "./https-fetch.js";
import { startTestApiServer, type TestApiServer } from "./server.js";

let server: TestApiServer;

beforeAll(async () => {
  server = await startTestApiServer({ bookmarkIntervalMs: 50 });
});

afterAll(async () => {
  await server?.stop();
});

type Body = Record<string, unknown> & { metadata?: Record<string, unknown> };

async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
  accept = "application/json",
) {
  const response = await httpsFetch(server, path, {
    method,
    headers: { "Content-Type": contentType, Accept: accept },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Body };
}

const CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "gadgets.test.relayfleet.io" },
  spec: {
    group: "test.relayfleet.io",
    scope: "Namespaced",
    names: { plural: "gadgets", kind: "Gadget" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                properties: {
                  mode: {
                    type: "string",
                    "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "mode is immutable" }],
                  },
                  tags: { type: "array", items: { type: "string" }, "x-kubernetes-list-type": "set" },
                  limits: { type: "object", additionalProperties: { type: "integer" } },
                },
              },
              status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
            },
          },
        },
      },
    ],
  },
};
const GADGETS = "/apis/test.relayfleet.io/v1/namespaces/default/gadgets";

describe("test API server semantics", () => {
  it("serves discovery in the aggregated form when asked, and plain otherwise", async () => {
    const accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    const aggregated = await call("GET", "/apis", undefined, "application/json", accept);
    expect(aggregated.headers.get("content-type")).toBe(
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    );
    const apps = (aggregated.body.items as Body[]).find((item) => item.metadata?.name === "apps") as Body;
    const [appsV1] = apps.versions as Body[];
    const deployments = (appsV1?.resources as Body[] | undefined)?.find(
      (resource) => resource.resource === "deployments",
    );
    expect(deployments).toMatchObject({
      scope: "Namespaced",
      shortNames: ["deploy"],
      subresources: [{ subresource: "status" }, { subresource: "scale", responseKind: { kind: "Scale" } }],
    });
    const plain = await call("GET", "/apis");
    expect(plain.body.kind).toBe("APIGroupList");
    const v3 = await call("GET", "/openapi/v3/apis/apps/v1");
    const patch = (v3.body.paths as Record<string, Body>)[
      "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    ]?.patch as Body;
    expect(patch["x-kubernetes-group-version-kind"]).toEqual({
      group: "apps",
      version: "v1",
      kind: "Deployment",
    });
    expect((patch.parameters as Body[]).map((parameter) => parameter.name)).toContain("fieldValidation");
  });

  it("evaluates transition rules, set lists, and keeps status writes from bumping generation", async () => {
    expect((await call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)).status).toBe(
      201,
    );
    const created = await call("POST", GADGETS, {
      metadata: { name: "g" },
      spec: { mode: "a", tags: ["x"] },
      status: { ignored: true },
    });
    expect(created.status).toBe(201);
    expect(created.body.status).toBeUndefined();
    const immutable = await call(
      "PATCH",
      `${GADGETS}/g`,
      { spec: { mode: "b" } },
      "application/merge-patch+json",
    );
    expect(immutable.status).toBe(422);
    expect(immutable.body.message).toBe(
      'Gadget.test.relayfleet.io "g" is invalid: spec.mode: Invalid value: "string": mode is immutable',
    );
    const duplicate = await call(
      "PATCH",
      `${GADGETS}/g`,
      { spec: { tags: ["x", "x"] } },
      "application/merge-patch+json",
    );
    expect(duplicate.body.message).toContain('spec.tags[1]: Duplicate value: "x"');
    const typed = await call(
      "PATCH",
      `${GADGETS}/g`,
      { spec: { limits: { cpu: "lots" } } },
      "application/merge-patch+json",
    );
    expect(typed.body.message).toContain(
      'spec.limits[cpu]: Invalid value: "string": spec.limits[cpu] in body must be of type integer: "string"',
    );

    const status = await call("PUT", `${GADGETS}/g/status`, {
      ...created.body,
      spec: { mode: "changed" },
      status: { phase: "Ready" },
    });
    expect(status.body).toMatchObject({
      spec: { mode: "a" },
      status: { phase: "Ready" },
      metadata: { generation: 1 },
    });
    const spec = await call(
      "PATCH",
      `${GADGETS}/g`,
      [{ op: "add", path: "/spec/tags/-", value: "y" }],
      "application/json-patch+json",
    );
    expect(spec.body).toMatchObject({
      spec: { tags: ["x", "y"] },
      status: { phase: "Ready" },
      metadata: { generation: 2 },
    });
    const failedTest = await call(
      "PATCH",
      `${GADGETS}/g`,
      [{ op: "test", path: "/spec/mode", value: "z" }],
      "application/json-patch+json",
    );
    expect(failedTest.status).toBe(422);
    const stale = await call("PUT", `${GADGETS}/g`, created.body);
    expect(stale.body).toMatchObject({ code: 409, reason: "Conflict" });
  });

  it("removes fields a manager stops applying, unless another manager owns them", async () => {
    const apply = (manager: string, data: Record<string, string>) =>
      call(
        "PATCH",
        `/api/v1/namespaces/default/configmaps/applied?fieldManager=${manager}`,
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied" }, data },
        "application/apply-patch+yaml",
      );
    expect((await apply("one", { a: "1", b: "2" })).status).toBe(201);
    expect((await apply("two", { b: "2" })).status).toBe(200);
    const after = await apply("one", { c: "3" });
    expect(after.body.data).toEqual({ b: "2", c: "3" });
    const missingManager = await call(
      "PATCH",
      "/api/v1/namespaces/default/configmaps/applied",
      "{}",
      "application/apply-patch+yaml",
    );
    expect(missingManager.body.message).toContain("fieldManager is required for apply requests");
  });

  it("holds deletion while finalizers remain and finishes it when the last one goes", async () => {
    await call("POST", "/api/v1/namespaces/default/configmaps", {
      metadata: { name: "held", finalizers: ["test/hold"] },
    });
    const deleting = await call("DELETE", "/api/v1/namespaces/default/configmaps/held");
    expect(deleting.body.metadata?.deletionTimestamp).toBeTruthy();
    const refused = await call(
      "PATCH",
      "/api/v1/namespaces/default/configmaps/held",
      { metadata: { finalizers: ["test/hold", "test/new"] } },
      "application/merge-patch+json",
    );
    expect(refused.body.message).toContain("no new finalizers can be added if the object is being deleted");
    await call(
      "PATCH",
      "/api/v1/namespaces/default/configmaps/held",
      { metadata: { finalizers: null } },
      "application/merge-patch+json",
    );
    expect((await call("GET", "/api/v1/namespaces/default/configmaps/held")).status).toBe(404);
  });

  it("dry-runs writes without storing, pages lists, and answers Tables for kubectl", async () => {
    const dry = await call("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", {
      metadata: { name: "dry" },
    });
    expect(dry.status).toBe(201);
    expect((await call("GET", "/api/v1/namespaces/default/configmaps/dry")).status).toBe(404);
    for (const name of ["p1", "p2", "p3"])
      await call("POST", "/api/v1/namespaces/default/configmaps", {
        metadata: { name, labels: { page: "yes" } },
      });
    const first = await call("GET", "/api/v1/namespaces/default/configmaps?labelSelector=page&limit=2");
    expect((first.body.items as Body[]).map((item) => item.metadata?.name)).toEqual(["p1", "p2"]);
    const next = await call(
      "GET",
      `/api/v1/namespaces/default/configmaps?labelSelector=page&limit=2&continue=${encodeURIComponent(String(first.body.metadata?.continue))}`,
    );
    expect((next.body.items as Body[]).map((item) => item.metadata?.name)).toEqual(["p3"]);
    const table = await call(
      "GET",
      "/api/v1/namespaces",
      undefined,
      "application/json",
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    expect(table.body.kind).toBe("Table");
    expect((table.body.columnDefinitions as Body[]).map((column) => column.name)).toEqual([
      "Name",
      "Status",
      "Age",
    ]);
  });

  it("streams watch events with bookmarks, and ends a watch from a compacted resourceVersion with 410", async () => {
    const list = await call("GET", "/api/v1/namespaces/default/secrets");
    const from = String(list.body.metadata?.resourceVersion);
    const controller = new AbortController();
    const response = await httpsFetch(
      server,
      `/api/v1/namespaces/default/secrets?watch=true&allowWatchBookmarks=true&resourceVersion=${from}`,
      { signal: controller.signal },
    );
    await call("POST", "/api/v1/namespaces/default/secrets", {
      metadata: { name: "watched" },
      stringData: { k: "v" },
    });
    const reader = response.body?.getReader();
    let text = "";
    while (!text.includes('"BOOKMARK"') && reader)
      text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    const first = JSON.parse(text.split("\n")[0] ?? "{}");
    expect(first).toMatchObject({
      type: "ADDED",
      object: { kind: "Secret", metadata: { name: "watched" }, data: { k: "dg==" } },
    });

    await call("POST", "/api/v1/namespaces/default/secrets", { metadata: { name: "later" } });
    server.compact();
    const expired = await (
      await httpsFetch(server, `/api/v1/namespaces/default/secrets?watch=true&resourceVersion=${from}`)
    ).text();
    expect(JSON.parse(expired.trim())).toMatchObject({
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired" },
    });
  });
});
