/** The API over real HTTP and a real store: auth, accounts, keys, groups, validation, lifecycle, metrics. */
import { describe, expect, it } from "vitest";
import { verifyPassword } from "../../relay/accounts/credentials.js";
import type { StoreKind } from "../tracking/fixture.js";
import { ADMIN_TOKEN, type ApiClient, startApi } from "./fixture.js";

const ACME = {
  credentials: [{ username: "acme-smtp", password: "s3cret-pass" }],
  allowedFrom: ["*@acme.example"],
  limits: { perHour: 100 },
  dkim: [
    {
      domain: "acme.example",
      selector: "s1",
      privateKey: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
    },
  ],
};

async function withAccountKey(api: ApiClient, name: string): Promise<string> {
  expect((await api.call("PUT", `/v1/accounts/${name}`, { body: {} })).status).toBe(201);
  const created = await api.call("POST", `/v1/accounts/${name}/keys`);
  expect(created.status).toBe(201);
  return (created.json() as { key: string }).key;
}

describe.each<StoreKind>(["local", "redis"])("API accounts and access (%s store)", (kind) => {
  it("creates, reads, patches and deletes an account without ever showing secrets", async () => {
    const api = await startApi(kind);
    const put = await api.call("PUT", "/v1/accounts/acme", { body: ACME });
    expect(put.status).toBe(201);
    expect(put.text).not.toMatch(/s3cret|scrypt|PRIVATE KEY|passwordHash|privateKey/);
    expect(put.json()).toMatchObject({
      name: "acme",
      credentials: [{ username: "acme-smtp" }],
      limits: { perHour: 100, perDay: 0 },
      dkim: [{ domain: "acme.example", selector: "s1" }],
    });
    expect((await api.call("PUT", "/v1/accounts/acme", { body: { ...ACME, name: "acme" } })).status).toBe(
      200,
    );

    const patch = await api.call("PATCH", "/v1/accounts/acme", {
      body: { limits: { perDay: 500 }, tracking: { clicks: false }, wrapColumn: null },
    });
    expect(patch.status).toBe(200);
    expect(patch.json()).toMatchObject({
      limits: { perHour: 100, perDay: 500 },
      tracking: { opens: true, clicks: false },
      wrapColumn: 76,
    });
    // The password and DKIM key survive a PATCH that does not mention them.
    const stored = await api.store.findAccountByUsername("acme-smtp");
    expect(await verifyPassword("s3cret-pass", stored?.passwordHash ?? "")).toBe(true);
    expect(stored?.account.dkim[0]?.privateKey).toContain("PRIVATE KEY");

    const listed = await api.call("GET", "/v1/accounts");
    expect((listed.json() as { items: { name: string }[] }).items.map((a) => a.name)).toEqual(["acme"]);
    expect((await api.call("DELETE", "/v1/accounts/acme")).status).toBe(204);
    expect((await api.call("GET", "/v1/accounts/acme")).status).toBe(404);
    expect((await api.call("DELETE", "/v1/accounts/acme")).status).toBe(404);
  });

  it("lets an account's API key see only that account, and never admin calls", async () => {
    const api = await startApi(kind);
    const acmeKey = await withAccountKey(api, "acme");
    await withAccountKey(api, "globex");
    await api.store.recordMessage({
      id: "GLOBEX1",
      account: "globex",
      from: "a@globex.example",
      recipients: ["r@example.org"],
      size: 10,
      acceptedAt: Date.now(),
    });

    const own = await api.call("GET", "/v1/accounts", { token: acmeKey });
    expect((own.json() as { items: { name: string }[] }).items.map((a) => a.name)).toEqual(["acme"]);
    expect((await api.call("GET", "/v1/accounts/acme", { token: acmeKey })).status).toBe(200);
    expect((await api.call("GET", "/v1/accounts/globex", { token: acmeKey })).status).toBe(403);
    expect((await api.call("GET", "/v1/accounts/globex/messages", { token: acmeKey })).status).toBe(403);
    expect((await api.call("GET", "/v1/messages/GLOBEX1", { token: acmeKey })).status).toBe(404);
    expect((await api.call("GET", "/v1/messages/GLOBEX1/stats", { token: acmeKey })).status).toBe(404);
    expect((await api.call("GET", "/v1/messages/GLOBEX1")).status).toBe(200);
    expect((await api.call("PUT", "/v1/accounts/acme", { token: acmeKey, body: {} })).status).toBe(403);
    expect((await api.call("POST", "/v1/accounts/acme/keys", { token: acmeKey })).status).toBe(403);
    expect((await api.call("POST", "/v1/admin/drain", { token: acmeKey })).status).toBe(401);
    expect(api.drained.value).toBe(false);

    const keyId = acmeKey.split("_")[1];
    expect((await api.call("DELETE", `/v1/accounts/acme/keys/${keyId}`, { token: acmeKey })).status).toBe(
      204,
    );
    expect((await api.call("GET", "/v1/accounts/acme", { token: acmeKey })).status).toBe(401);
  });
});

describe("API authentication, validation and errors", () => {
  it("answers 401 with a Bearer challenge to missing, wrong and malformed tokens", async () => {
    const api = await startApi();
    for (const token of [
      null,
      "wrong",
      `${ADMIN_TOKEN}x`,
      ADMIN_TOKEN.slice(0, -1),
      `rfk_000000000000_${"A".repeat(43)}`,
    ]) {
      const response = await api.call("GET", "/v1/accounts", { token });
      expect(response.status, String(token)).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="relayfleet"');
      expect(response.json()).toMatchObject({ error: "unauthorized" });
    }
    const basic = await fetch(`${api.base}/v1/accounts`, {
      headers: { authorization: `Basic ${ADMIN_TOKEN}` },
    });
    expect(basic.status).toBe(401);
  });

  it("names the field at fault in every 400", async () => {
    const api = await startApi();
    const cases: [unknown, string][] = [
      [{ limits: { perHour: -1 } }, "limits.perHour"],
      [{ allowedIps: ["10.0.0.0/33"] }, "allowedIps.0"],
      [{ colour: "blue" }, "(body)"],
      [{ credentials: [{ username: "u" }] }, "credentials.0.password"],
      [{ name: "other" }, "name"],
      [{ notify: { accountManager: "not-an-address" } }, "notify.accountManager"],
    ];
    for (const [body, field] of cases) {
      const response = await api.call("PUT", "/v1/accounts/acme", { body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      const error = response.json() as {
        error: string;
        message: string;
        issues: { field: string; message: string }[];
      };
      expect(error.error).toBe("invalid_request");
      expect(
        error.issues.map((i) => i.field),
        JSON.stringify(body),
      ).toContain(field);
      expect(error.message).toContain(field);
    }
    const unknownKey = (await api.call("PUT", "/v1/accounts/acme", { body: { colour: "blue" } })).json() as {
      message: string;
    };
    expect(unknownKey.message).toContain("colour");
    const badJson = await api.call("PUT", "/v1/accounts/acme", { body: "{not json" });
    expect(badJson.status).toBe(400);
    expect(badJson.json()).toMatchObject({ issues: [{ field: "(body)" }] });
    const form = await api.call("PUT", "/v1/accounts/acme", {
      body: "a=b",
      headers: { "content-type": "text/plain" },
    });
    expect(form.status).toBe(415);
    expect((await api.call("PUT", "/v1/accounts/bad%20name", { body: {} })).json()).toMatchObject({
      issues: [{ field: "name" }],
    });
    expect((await api.call("PUT", "/v1/accounts/%E0%A4%A", { body: {} })).status).toBe(400);
    const huge = await api.call("PUT", "/v1/accounts/acme", {
      body: { allowedFrom: ["x".repeat(2 * 1024 * 1024)] },
    });
    expect(huge.status).toBe(413);
    expect(await api.store.getAccount("acme")).toBeUndefined();
  });

  it("refuses renames and relay-owned fields in a PATCH, and a username another account holds", async () => {
    const api = await startApi();
    await api.call("PUT", "/v1/accounts/acme", { body: ACME });
    expect((await api.call("PATCH", "/v1/accounts/acme", { body: { name: "x" } })).json()).toMatchObject({
      issues: [{ field: "name" }],
    });
    expect((await api.call("PATCH", "/v1/accounts/acme", { body: { createdAt: 1 } })).status).toBe(400);
    expect(
      (await api.call("PATCH", "/v1/accounts/acme", { body: { limits: { perHour: "many" } } })).json(),
    ).toMatchObject({
      issues: [{ field: "limits.perHour" }],
    });
    expect((await api.call("PATCH", "/v1/accounts/nobody", { body: {} })).status).toBe(404);
    const clash = await api.call("PUT", "/v1/accounts/globex", { body: { credentials: ACME.credentials } });
    expect(clash.status).toBe(409);
    expect(clash.json()).toMatchObject({ error: "conflict" });
  });

  it("adds transactional groups idempotently and validates their names", async () => {
    const api = await startApi();
    await api.call("PUT", "/v1/accounts/acme", { body: {} });
    const first = await api.call("POST", "/v1/accounts/acme/groups", { body: { name: "Password resets" } });
    expect(first.status).toBe(201);
    expect(first.json()).toMatchObject({ name: "Password resets" });
    expect(
      (await api.call("POST", "/v1/accounts/acme/groups", { body: { name: "Password resets" } })).status,
    ).toBe(200);
    const bad = await api.call("POST", "/v1/accounts/acme/groups", { body: { name: "a\r\nBcc: x@y" } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ issues: [{ field: "name" }] });
    expect((await api.call("POST", "/v1/accounts/acme/groups", {})).json()).toMatchObject({
      issues: [{ field: "(body)" }],
    });
    expect((await api.call("POST", "/v1/accounts/nobody/groups", { body: { name: "g" } })).status).toBe(404);
    const list = await api.call("GET", "/v1/accounts/acme/groups");
    expect((list.json() as { items: { name: string }[] }).items.map((g) => g.name)).toEqual([
      "Password resets",
    ]);
  });

  it("keeps the lifecycle endpoints, answers 404/405 for unknown calls, and counts requests by route and status", async () => {
    const api = await startApi();
    expect((await api.call("GET", "/healthz", { token: null })).status).toBe(200);
    expect((await api.call("GET", "/readyz", { token: null })).json()).toEqual({ status: "ready" });
    expect((await api.call("GET", "/v1/nothing")).status).toBe(404);
    const wrongMethod = await api.call("POST", "/v1/accounts");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET");
    await api.call("GET", "/v1/accounts");
    await api.call("GET", "/v1/accounts/acme");
    expect((await api.call("POST", "/v1/admin/drain")).status).toBe(200);
    expect((await api.call("GET", "/readyz", { token: null })).status).toBe(503);
    const values =
      (await api.metrics.registry.getSingleMetric("relayfleet_api_requests_total")?.get())?.values ?? [];
    const count = (route: string, status: string) =>
      values.find((v) => v.labels.route === route && v.labels.status === status)?.value;
    expect(count("/v1/accounts", "200")).toBe(1);
    expect(count("/v1/accounts", "405")).toBe(1);
    expect(count("/v1/accounts/:name", "404")).toBe(1);
    expect(count("unmatched", "404")).toBe(1);
    expect(count("/v1/admin/drain", "200")).toBe(1);
  });

  it("takes the admin token alone for drain and hand-off, no token for the probes", async () => {
    const api = await startApi();
    const acmeKey = await withAccountKey(api, "acme");
    for (const path of ["/v1/admin/drain", "/v1/admin/handoff", "/v1/admin/spool"]) {
      for (const token of [null, acmeKey, "not-the-admin-token"]) {
        const refused = await api.call("POST", path, { token });
        expect(refused.status, `${path} ${token}`).toBe(401);
        expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="relayfleet"');
      }
      expect((await api.call("GET", path)).status).toBe(405);
    }
    expect(api.drained.value).toBe(false);
    // Past the bearer check, the lifecycle's own answers (this fixture's store is not shared).
    expect((await api.call("POST", "/v1/admin/spool", { body: "null\n" })).json()).toEqual({
      error: "hand-off needs relays that share a Store (store.redis)",
    });
    expect((await api.call("GET", "/healthz", { token: "not-the-admin-token" })).json()).toEqual({
      status: "ok",
    });
    expect((await api.call("POST", "/v1/admin/drain")).json()).toEqual({ status: "drained" });
    expect((await api.call("GET", "/readyz", { token: null })).json()).toEqual({ status: "draining" });
  });
});
