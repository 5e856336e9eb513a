/** SenderRoute → route table in a real Redis; blocked reports → failover routes and status, then release. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { SenderRoute } from "../../operator/api/senderroute.js";
import type { Operator } from "../../operator/operator.js";
import { get, type Harness, poolUsingRoute, startHarness, waitFor } from "./harness.js";

let h: Harness;
let operator: Operator;

const route = (holdSeconds: number, extra = "") => `
apiVersion: relayfleet.io/v1alpha1
kind: SenderRoute
metadata: { name: default, namespace: mail }
spec:
  policy: random
  senders:
    - { name: out1, host: out1.example.net, port: 25 }
    - { name: out2, mx: true, localAddress: 198.51.100.7 }
    - { name: out3, host: out3.example.net }
  domains:
    - { match: ["hotmail.com", "live.com"], senders: [out2, out3] }
  blocking: { holdSeconds: ${holdSeconds}, patterns: ["blocked using"] }
${extra}`;

const status = async () =>
  (await get<SenderRoute>(h, "relayfleet.io/v1alpha1", "senderroutes", "default"))?.status;

beforeAll(async () => {
  h = await startHarness({ redisUrl: inject("redisUrl") });
  // The routes are published to the Redis of the pools that use them: here, the test's Redis.
  await h.applyYaml(poolUsingRoute("default", inject("redisUrl")));
  await h.applyYaml(poolUsingRoute("smarthost", inject("redisUrl")));
  operator = await h.startOperator();
  await waitFor(() => operator.isLeader);
});

afterAll(async () => {
  await h?.stop();
});

describe("SenderRoute", () => {
  it("publishes the route as route table namespace/name, with its generation in status", async () => {
    await h.applyYaml(route(3600));
    await expect.poll(() => h.store.getRouteTable("mail/default"), { timeout: 3_000 }).toBeDefined();
    const table = await h.store.getRouteTable("mail/default");
    expect(table).toMatchObject({
      policy: "random",
      senders: [
        { name: "out1", host: "out1.example.net", port: 25, mx: false },
        { name: "out2", mx: true, localAddress: "198.51.100.7" },
        { name: "out3", host: "out3.example.net", port: 25 },
      ],
      domains: [{ match: ["hotmail.com", "live.com"], senders: ["out2", "out3"] }],
      blocking: { holdSeconds: 3600, patterns: ["blocked using"] },
    });
    await expect
      .poll(status, { timeout: 3_000 })
      .toMatchObject({ publishedGeneration: 1, publishedAs: "mail/default" });

    await h.applyYaml(route(3600).replace("policy: random", "policy: weighted"));
    await expect
      .poll(async () => (await h.store.getRouteTable("mail/default"))?.policy, { timeout: 2_000 })
      .toBe("weighted");
    await expect.poll(async () => (await status())?.publishedGeneration, { timeout: 2_000 }).toBe(2);
  });

  it("publishes a smart host's SMTP AUTH from a Secret, and says which Secret is missing until it exists", async () => {
    const smarthost = (annotation: string) => `
apiVersion: relayfleet.io/v1alpha1
kind: SenderRoute
metadata: { name: smarthost, namespace: mail, annotations: { try: "${annotation}" } }
spec:
  senders:
    - name: provider
      host: smtp.provider.example
      port: 587
      authSecretRef: { name: provider-login }
`;
    const smarthostStatus = async () =>
      (await get<SenderRoute>(h, "relayfleet.io/v1alpha1", "senderroutes", "smarthost"))?.status;
    await h.applyYaml(smarthost("1"));
    await expect
      .poll(async () => (await smarthostStatus())?.conditions?.find((c) => c.type === "Ready"), {
        timeout: 3_000,
      })
      .toMatchObject({
        status: "False",
        reason: "CredentialsMissing",
        message: "sender provider: secret provider-login not found",
      });
    expect(await h.store.getRouteTable("mail/smarthost")).toBeUndefined();

    await h.applyYaml(`
apiVersion: v1
kind: Secret
metadata: { name: provider-login, namespace: mail }
stringData: { username: relay@provider.example, password: "s3cret:with spaces" }
`);
    await h.applyYaml(smarthost("2"));
    await expect
      .poll(async () => (await h.store.getRouteTable("mail/smarthost"))?.senders[0], { timeout: 3_000 })
      .toMatchObject({
        name: "provider",
        host: "smtp.provider.example",
        port: 587,
        auth: { user: "relay@provider.example", pass: "s3cret:with spaces" },
      });
    await expect
      .poll(async () => (await smarthostStatus())?.conditions?.find((c) => c.type === "Ready")?.status, {
        timeout: 3_000,
      })
      .toBe("True");
    // The credentials are in the published table only, never in the route's status.
    expect(JSON.stringify(await smarthostStatus())).not.toContain("s3cret");
  });

  it("turns a blocked report into a published failover route and a status entry within 2 seconds", async () => {
    const since = Date.now();
    await h.store.reportBlocked({
      sender: "out2",
      domain: "hotmail.com",
      since,
      until: since + 3600_000,
      reason: "550 5.7.1 blocked using spamhaus",
      reportedBy: "marathon-0",
    });
    await expect
      .poll(async () => (await h.store.getRouteTable("mail/default"))?.domains[0], {
        timeout: 2_000,
        interval: 50,
      })
      .toEqual({ match: ["hotmail.com"], senders: ["out3"] });
    await expect
      .poll(async () => (await status())?.blocked, { timeout: 2_000, interval: 50 })
      .toEqual([
        {
          sender: "out2",
          domain: "hotmail.com",
          since: new Date(since).toISOString(),
          until: new Date(since + 3600_000).toISOString(),
          reason: "550 5.7.1 blocked using spamhaus",
          reportedBy: "marathon-0",
        },
      ]);
    expect((await status())?.blockedCount).toBe(1);
    const events = await h.client.list<{ reason: string; message: string }>({
      apiVersion: "v1",
      plural: "events",
      namespace: "mail",
    });
    expect(events.items.map((e) => e.reason)).toContain("SenderBlocked");
    const metrics = await operator.metrics.registry.getSingleMetricAsString(
      "relayfleet_operator_blocks_total",
    );
    expect(metrics).toContain('relayfleet_operator_blocks_total{namespace="mail",route="default"} 1');
  });

  it("reports a domain with no sender left as Degraded instead of inventing a route", async () => {
    const since = Date.now();
    await h.store.reportBlocked({
      sender: "out3",
      domain: "hotmail.com",
      since,
      until: since + 3600_000,
      reason: "554 blocked",
    });
    await expect
      .poll(async () => (await status())?.conditions?.find((c) => c.type === "Degraded"), { timeout: 2_000 })
      .toMatchObject({ status: "True", reason: "NoFailover" });
    const table = await h.store.getRouteTable("mail/default");
    expect(table?.domains).toEqual([{ match: ["hotmail.com", "live.com"], senders: ["out2", "out3"] }]);
    await h.store.clearBlocked("out3", "hotmail.com");
    await expect
      .poll(async () => (await h.store.getRouteTable("mail/default"))?.domains.length, { timeout: 2_000 })
      .toBe(2);
  });

  it("releases a block after blocking.holdSeconds: route restored, status cleared, Store cleared", async () => {
    // A hold of 1 s on the route overrides the reporter's longer one.
    await h.applyYaml(route(1));
    await expect
      .poll(async () => (await status())?.blocked ?? [], { timeout: 4_000, interval: 100 })
      .toEqual([]);
    expect((await h.store.getRouteTable("mail/default"))?.domains).toEqual([
      { match: ["hotmail.com", "live.com"], senders: ["out2", "out3"] },
    ]);
    expect(await h.store.listBlocked(Date.now())).toEqual([]);
    const events = await h.client.list<{ reason: string }>({
      apiVersion: "v1",
      plural: "events",
      namespace: "mail",
    });
    expect(events.items.map((e) => e.reason)).toContain("SenderReleased");
  });

  it("puts back a route table edited by hand in the Store", async () => {
    const table = await h.store.getRouteTable("mail/default");
    if (!table) throw new Error("no table");
    await h.store.putRouteTable("mail/default", { ...table, policy: "failover" });
    await expect
      .poll(async () => (await h.store.getRouteTable("mail/default"))?.policy, { timeout: 2_000 })
      .toBe("random");
  });

  it("removes the table when the route is deleted, and sweeps tables of routes deleted while it was away", async () => {
    await h.client.delete(
      { apiVersion: "relayfleet.io/v1alpha1", plural: "senderroutes", namespace: "mail" },
      "default",
    );
    await expect.poll(() => h.store.getRouteTable("mail/default"), { timeout: 2_000 }).toBeUndefined();

    const table = {
      policy: "failover" as const,
      senders: [
        {
          name: "x",
          host: "x.example",
          port: 25,
          mx: false,
          tls: "starttls" as const,
          requireTls: false,
          verifyCertificates: true,
          weight: 1,
          maxConnections: 1,
        },
      ],
      domains: [],
      blocking: { holdSeconds: 10, patterns: [] },
    };
    await h.store.putRouteTable("ghost/route", table);
    await h.store.putRouteTable("static", table);
    await operator.stop();
    const next = await h.startOperator({ identity: "op-next", sweepIntervalMs: 200 });
    await waitFor(() => next.isLeader);
    await expect.poll(() => h.store.getRouteTable("ghost/route"), { timeout: 3_000 }).toBeUndefined();
    expect(await h.store.getRouteTable("static")).toBeDefined();
  });
});
