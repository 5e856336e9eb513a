import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../../relay/config/load.js";
import { testPool } from "../../test/operator/pool.js";
import type { RelayPoolSpec } from "../api/relaypool.js";
import { configHash, configMap } from "./config.js";
import { type PodView, podsToRemove, readyEndpoints } from "./endpoints.js";
import { dnsEndpoint, serviceMonitor, smtpService } from "./network.js";
import { statefulSet } from "./workload.js";

const pool = (overrides: Partial<RelayPoolSpec> = {}) => testPool(overrides);

const pod = (name: string, ready: boolean, ip: string, created = "2024-01-01T00:00:00Z"): PodView => ({
  metadata: { name, creationTimestamp: created },
  status: {
    phase: "Running",
    podIP: ip,
    hostIP: ip.replace("10.", "192."),
    conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
  },
});

describe("builders", () => {
  it("render a relay config the relay itself accepts, with secrets left to the environment", () => {
    const yaml = (configMap(pool()).data as Record<string, string>)["relay.yaml"] ?? "";
    const config = parseConfig(parse(yaml));
    expect(config).toMatchObject({
      hostname: "smtp.example.com",
      mode: "full",
      dataDir: "/var/spool/relayfleet",
      defaultRoute: "mail/default",
    });
    expect(config.listen.smtp).toEqual(["0.0.0.0:25", "0.0.0.0:587"]);
    expect(yaml).not.toContain("redis");
    // AUTH only after TLS, whatever address the relay's listeners end up on.
    expect(parseConfig(parse(yaml)).intake).toMatchObject({
      insecureAuth: false,
      plainAuthOnLoopback: false,
    });
    const proxied = parse(
      (
        configMap(pool({ clientIp: { preserve: "proxyProtocol", proxyFrom: ["10.1.2.3"] } })).data as Record<
          string,
          string
        >
      )["relay.yaml"] ?? "",
    );
    expect(parseConfig(proxied).intake.proxyProtocolFrom).toEqual(["10.1.2.3"]);
    const behindIngress = parse(
      (configMap(pool({ trackingForwardedFrom: ["10.2.0.0/16"] })).data as Record<string, string>)[
        "relay.yaml"
      ] ?? "",
    );
    expect(parseConfig(behindIngress).tracking.trustForwardedFrom).toEqual(["10.2.0.0/16"]);
    expect(parseConfig(parse(yaml)).tracking.trustForwardedFrom).toEqual([]);
    expect(parseConfig(parse(yaml)).store.cluster).toBe(false);
    const clustered = parse(
      (
        configMap(pool({ redis: { secretRef: { name: "redis", key: "url" }, cluster: true } }))
          .data as Record<string, string>
      )["relay.yaml"] ?? "",
    );
    expect(parseConfig(clustered).store).toEqual({ cluster: true });
  });

  it("label the relays' ServiceMonitor for a Prometheus that selects by label, without losing the operator's labels", () => {
    const monitor = serviceMonitor(
      pool({ serviceMonitorLabels: { release: "kube-prometheus-stack", "relayfleet.io/pool": "spoofed" } }),
    );
    expect(monitor.metadata?.labels).toMatchObject({
      release: "kube-prometheus-stack",
      "relayfleet.io/pool": "p",
    });
    expect(serviceMonitor(pool()).metadata?.labels).not.toHaveProperty("release");
  });

  it("change the config hash with the config, not otherwise", () => {
    expect(configHash(pool())).toBe(configHash(pool()));
    expect(configHash(pool({ mode: "passthrough" }))).not.toBe(configHash(pool()));
    expect(configHash(pool({ replicas: 7 }))).toBe(configHash(pool()));
  });

  it("keep the client address: externalTrafficPolicy Local, or Cluster with PROXY protocol", () => {
    expect((smtpService(pool()).spec as Record<string, unknown>).externalTrafficPolicy).toBe("Local");
    const proxied = smtpService(pool({ clientIp: { preserve: "proxyProtocol", proxyFrom: ["10.0.0.1"] } }));
    expect((proxied.spec as Record<string, unknown>).externalTrafficPolicy).toBe("Cluster");
    expect(
      (
        smtpService(pool({ service: { type: "ClusterIP", publishAddresses: "nodes" } })).spec as Record<
          string,
          unknown
        >
      ).externalTrafficPolicy,
    ).toBeUndefined();
  });

  it("give the StatefulSet a retained spool claim, an owner, and secrets as env", () => {
    const sts = statefulSet(pool(), 3) as {
      spec: Record<string, unknown>;
      metadata: Record<string, unknown>;
    };
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({
      whenScaled: "Retain",
      whenDeleted: "Retain",
    });
    expect(JSON.stringify(sts.spec)).toContain('"secretKeyRef":{"name":"redis","key":"url"}');
    expect(sts.metadata.ownerReferences).toEqual([
      {
        apiVersion: "relayfleet.io/v1alpha1",
        kind: "RelayPool",
        name: "p",
        uid: "u-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it("publish ready relays as A and AAAA record sets, and no record set when none is ready", () => {
    const dns = dnsEndpoint(pool(), ["192.0.2.2", "2001:db8::1", "192.0.2.1"]) as {
      spec: { endpoints: unknown[] };
    };
    expect(dns.spec.endpoints).toEqual([
      { dnsName: "smtp.example.com", recordType: "A", recordTTL: 60, targets: ["192.0.2.1", "192.0.2.2"] },
      { dnsName: "smtp.example.com", recordType: "AAAA", recordTTL: 60, targets: ["2001:db8::1"] },
    ]);
    expect((dnsEndpoint(pool(), []) as { spec: { endpoints: unknown[] } }).spec.endpoints).toEqual([]);
    expect(dnsEndpoint(pool({ hostname: undefined }), ["192.0.2.1"])).toBeUndefined();
  });
});

describe("pods", () => {
  const pods = [
    pod("p-0", true, "10.0.0.1"),
    pod("p-1", false, "10.0.0.2"),
    pod("p-2", true, "10.0.0.3", "2024-02-01T00:00:00Z"),
  ];

  it("publish the chosen address of ready pods only", () => {
    expect(readyEndpoints(pool(), pods)).toEqual(["192.0.0.1", "192.0.0.3"]);
    expect(readyEndpoints(pool({ endpointAddress: "podIP" }), pods)).toEqual(["10.0.0.1", "10.0.0.3"]);
  });

  it("remove the highest ordinals of a StatefulSet; for a Deployment the not ready, then the youngest", () => {
    expect(podsToRemove("StatefulSet", pods, 3, 1).map((p) => p.metadata?.name)).toEqual(["p-1", "p-2"]);
    expect(podsToRemove("Deployment", pods, 3, 1).map((p) => p.metadata?.name)).toEqual(["p-1", "p-2"]);
    expect(podsToRemove("Deployment", pods, 3, 2).map((p) => p.metadata?.name)).toEqual(["p-1"]);
    expect(podsToRemove("StatefulSet", pods, 3, 3)).toEqual([]);
  });
});
