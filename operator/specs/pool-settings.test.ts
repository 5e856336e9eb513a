/** The pool-level builders: TLS, port 465, spec.relay, pod hardening, spreading, published addresses. */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../../relay/config/load.js";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { testPool } from "../../test/operator/pool.js";
import { relayPoolCrd } from "../api/crds.js";
import { OPERATOR_OWNED_KEYS, relaySettingsProblems, toStructuralSchema } from "../api/relay-settings.js";
import type { RelayPoolSpec } from "../api/relaypool.js";
import { configHash, configMap, mergeOwnedOver, relayConfig } from "./config.js";
import { type PodView, publishedEndpoints, type ServiceView } from "./endpoints.js";
import { smtpService } from "./network.js";
import { deployment, statefulSet } from "./workload.js";

const pool = (overrides: Partial<RelayPoolSpec> = {}) => testPool(overrides);
const rendered = (overrides: Partial<RelayPoolSpec> = {}) =>
  parse((configMap(pool(overrides)).data as Record<string, string>)["relay.yaml"] ?? "") as Record<
    string,
    unknown
  >;

interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: {
    securityContext: Record<string, unknown>;
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    ports: { name: string; containerPort: number }[];
  }[];
  volumes: ({ name: string } & Record<string, unknown>)[];
  topologySpreadConstraints: unknown[];
  affinity: unknown;
}
const podSpec = (overrides: Partial<RelayPoolSpec> = {}) =>
  (statefulSet(pool(overrides), 2) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template
    .spec;

const servingPod = (name: string, hostIP: string): PodView => ({
  metadata: { name },
  status: { phase: "Running", podIP: "10.0.0.9", hostIP, conditions: [{ type: "Ready", status: "True" }] },
});

describe("TLS", () => {
  it("mounts the pool's kubernetes.io/tls Secret read-only and points the relay config at its files", () => {
    const spec = podSpec({ tls: { secretName: "smtp-cert" } });
    expect(spec.volumes).toContainEqual({
      name: "tls",
      secret: { secretName: "smtp-cert", defaultMode: 0o440 },
    });
    expect(spec.containers[0]?.volumeMounts).toContainEqual({
      name: "tls",
      mountPath: "/etc/relayfleet-tls",
      readOnly: true,
    });
    const config = parseConfig(rendered({ tls: { secretName: "smtp-cert" } }));
    expect(config.tls).toEqual({ cert: "/etc/relayfleet-tls/tls.crt", key: "/etc/relayfleet-tls/tls.key" });
  });

  it("has no TLS volume or config without spec.tls", () => {
    expect(podSpec().volumes.map((v) => v.name)).not.toContain("tls");
    expect(rendered()).not.toHaveProperty("tls");
  });

  it("makes port 465 an implicit-TLS listener (listen.smtps), with Service and container ports as for the others", () => {
    const spec = { smtpPorts: [25, 465, 587], tls: { secretName: "smtp-cert" } };
    const listen = rendered(spec).listen as Record<string, unknown>;
    expect(listen.smtp).toEqual(["0.0.0.0:25", "0.0.0.0:587"]);
    expect(listen.smtps).toEqual(["0.0.0.0:465"]);
    expect(podSpec(spec).containers[0]?.ports.map((p) => p.containerPort)).toEqual([
      25, 465, 587, 8080, 8081, 9464,
    ]);
    const ports = (smtpService(pool(spec)).spec as { ports: { name: string; port: number }[] }).ports;
    expect(ports.map((p) => `${p.name}:${p.port}`)).toEqual(["smtp-25:25", "smtp-465:465", "smtp-587:587"]);
    expect(rendered()).not.toHaveProperty("listen.smtps");
  });
});

describe("spec.relay", () => {
  it("reaches the relay config, and the relay accepts the result", () => {
    const config = parseConfig(
      rendered({
        relay: {
          bounceDomain: "bounces.example.com",
          maxMessageBytes: 20_000_000,
          retentionDays: 7,
          intake: { maxRecipients: 50, greetingDelayMs: 500 },
          webhooks: { allowPrivateTargets: ["10.0.0.0/8"] },
          feedback: { prefix: "fb" },
          logLevel: "warn",
        },
      }),
    );
    expect(config).toMatchObject({
      bounceDomain: "bounces.example.com",
      maxMessageBytes: 20_000_000,
      retentionDays: 7,
      webhooks: { allowPrivateTargets: ["10.0.0.0/8"] },
      feedback: { prefix: "fb" },
      logLevel: "warn",
    });
    expect(config.intake).toMatchObject({ maxRecipients: 50, greetingDelayMs: 500, maxConnections: 1000 });
  });

  it("loses to the operator's own keys, key by key inside objects", () => {
    const config = rendered({
      debug: true,
      clientIp: { preserve: "proxyProtocol", proxyFrom: ["10.1.2.3"] },
      trackingForwardedFrom: ["10.9.0.0/16"],
      // As a client that skipped the schema might send them: the operator's values still win.
      relay: {
        logLevel: "error",
        intake: { maxRecipients: 10, proxyProtocolFrom: ["192.0.2.66"], insecureAuth: true },
        tracking: { trustForwardedFrom: ["0.0.0.0/0"] },
        listen: { smtp: ["0.0.0.0:2525"] },
        dataDir: "/tmp/elsewhere",
      } as RelayPoolSpec["relay"],
    });
    expect(config).toMatchObject({
      logLevel: "debug",
      intake: {
        maxRecipients: 10,
        proxyProtocolFrom: ["10.1.2.3"],
        insecureAuth: false,
        plainAuthOnLoopback: false,
      },
      tracking: { trustForwardedFrom: ["10.9.0.0/16"] },
      listen: { smtp: ["0.0.0.0:25", "0.0.0.0:587"] },
      dataDir: "/var/spool/relayfleet",
      defaultRoute: "mail/default",
    });
  });

  it("restarts the relays when it changes (the config hash moves)", () => {
    expect(configHash(pool({ relay: { retentionDays: 9 } }))).not.toBe(configHash(pool()));
  });

  it("merges objects key by key and takes lists and scalars whole from the operator", () => {
    expect(mergeOwnedOver({ a: { x: 1, y: 2 }, b: [1, 2], c: "theirs" }, { a: { y: 3 }, b: [9] })).toEqual({
      a: { y: 3, x: 1 },
      b: [9],
      c: "theirs",
    });
  });

  it("offers every relay config key the operator does not own, so keys added to the relay flow in", () => {
    const crd = relayPoolCrd() as {
      spec: {
        versions: {
          schema: {
            openAPIV3Schema: {
              properties: { spec: { properties: Record<string, { properties: Record<string, unknown> }> } };
            };
          };
        }[];
      };
    };
    const relay = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties.relay;
    const offered = Object.keys(relay?.properties ?? {}).sort();
    const owned = new Set<string>(OPERATOR_OWNED_KEYS);
    expect(offered).toEqual(
      Object.keys(relayConfigSchema.shape)
        .filter((key) => !owned.has(key))
        .sort(),
    );
    expect(offered).toEqual(
      expect.arrayContaining(["bounceDomain", "intake", "maxMessageBytes", "webhooks"]),
    );
  });

  it("names the field of a value only the relay's own schema refuses", () => {
    expect(relaySettingsProblems({ tracking: { trustForwardedFrom: ["not-an-ip"] } })).toEqual([
      "spec.relay.tracking.trustForwardedFrom[0]: an IP address or CIDR range such as 10.0.0.0/8",
    ]);
    expect(relaySettingsProblems({ intake: { maxRecipients: 5 } })).toEqual([]);
    expect(relaySettingsProblems(undefined)).toEqual([]);
  });

  it("refuses at generation what a Kubernetes structural schema cannot say, naming the field", () => {
    expect(() =>
      toStructuralSchema({ anyOf: [{ type: "string" }, { type: "number" }] }, "spec.relay.x"),
    ).toThrow('spec.relay.x: "anyOf" has no Kubernetes structural-schema form');
    expect(() => toStructuralSchema({ type: "string", pattern: "^(?!a)" }, "spec.relay.y")).toThrow(
      "spec.relay.y: pattern ^(?!a) is not RE2",
    );
    expect(
      toStructuralSchema(
        {
          type: "object",
          additionalProperties: false,
          properties: {
            n: { type: "integer", default: 3, exclusiveMinimum: 0, maximum: Number.MAX_SAFE_INTEGER },
          },
        },
        "spec.relay",
      ),
    ).toEqual({ type: "object", properties: { n: { type: "integer", minimum: 0, exclusiveMinimum: true } } });
  });
});

describe("relay pods", () => {
  it("meet Pod Security restricted: non-root 10001, RuntimeDefault seccomp, no escalation, ALL dropped but NET_BIND_SERVICE, read-only root", () => {
    for (const spec of [
      podSpec(),
      (deployment(pool(), 1) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec,
    ]) {
      expect(spec.containers[0]?.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 10001,
        fsGroup: 10001,
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(spec.volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "64Mi" } });
      expect(spec.containers[0]?.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    }
  });

  it("open ports below 1024 to the non-root relay with the namespaced sysctl, and only then", () => {
    expect(podSpec().securityContext.sysctls).toEqual([
      { name: "net.ipv4.ip_unprivileged_port_start", value: "25" },
    ]);
    expect(podSpec({ smtpPorts: [2525, 5870] }).securityContext).not.toHaveProperty("sysctls");
  });

  it("spread over nodes by default, softly, and take the pool's own rules instead when given", () => {
    const spec = podSpec();
    const selector = { matchLabels: { "app.kubernetes.io/component": "relay", "relayfleet.io/pool": "p" } };
    expect(spec.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: "kubernetes.io/hostname",
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: selector,
      },
    ]);
    expect(spec.affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: selector },
          },
        ],
      },
    });
    const zones = [
      { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule" },
    ];
    const custom = podSpec({ topologySpreadConstraints: zones, affinity: {} });
    expect(custom.topologySpreadConstraints).toEqual(zones);
    expect(custom.affinity).toEqual({});
  });
});

describe("published addresses", () => {
  const balancer = (ingress: { ip?: string; hostname?: string }[]): ServiceView => ({
    metadata: { name: "p-smtp" },
    status: { loadBalancer: { ingress } },
  });
  const pods = [servingPod("p-0", "192.0.2.10"), servingPod("p-1", "192.0.2.11")];
  const lb = (spec: Partial<RelayPoolSpec> = {}) =>
    pool({ service: { type: "LoadBalancer", publishAddresses: "loadBalancer" }, ...spec });

  it("are the relays' node addresses by default", () => {
    expect(publishedEndpoints(pool(), pods, balancer([{ ip: "203.0.113.5" }]))).toEqual({
      addresses: ["192.0.2.10", "192.0.2.11"],
    });
  });

  it("are the load balancer's IPs with publishAddresses loadBalancer, while a relay serves behind it", () => {
    expect(publishedEndpoints(lb(), pods, balancer([{ ip: "203.0.113.6" }, { ip: "203.0.113.5" }]))).toEqual({
      addresses: ["203.0.113.5", "203.0.113.6"],
    });
    expect(publishedEndpoints(lb(), [], balancer([{ ip: "203.0.113.5" }]))).toEqual({ addresses: [] });
  });

  it("say why there is nothing to publish when the load balancer has no IP", () => {
    expect(publishedEndpoints(lb(), pods, balancer([]))).toEqual({
      addresses: [],
      problem: "the load balancer of p-smtp has no address yet",
    });
    expect(publishedEndpoints(lb(), pods, balancer([{ hostname: "lb.example.net" }])).problem).toBe(
      "the load balancer of p-smtp has hostnames only; DNS A records need its IPs",
    );
  });
});

it("renders the relay config the operator computes (relayConfig and the ConfigMap agree)", () => {
  expect(rendered({ relay: { retentionDays: 3 } })).toEqual(
    JSON.parse(JSON.stringify(relayConfig(pool({ relay: { retentionDays: 3 } })))),
  );
});
