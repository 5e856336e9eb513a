/**
 * RelayPool (relayfleet.io/v1alpha1): a fleet of relays behind one hostname.
 * Every field: docs/reference/custom-resources.md. Defaults and validation live here, in
 * the CRD schema, so the API server refuses a bad pool with the field named
 * and the operator reads an object with every default already filled.
 */

import { poolRelaySettings } from "./relay-settings.js";
import {
  array,
  boolean,
  conditionsSchema,
  type Infer,
  integer,
  number,
  object,
  oneOf,
  opaque,
  string,
  stringMap,
} from "./schema.js";

const DNS_NAME = "^(\\*\\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
const IP = "^[0-9a-fA-F.:]+$";

export const autoscalingSchema = object({
  minReplicas: integer({ minimum: 1, maximum: 1000 }).default(1),
  maxReplicas: integer({ minimum: 1, maximum: 1000 }).required(),
  metric: oneOf(["queue", "acceptRate"] as const)
    .default("queue")
    .describe("queue: messages waiting per replica; acceptRate: messages accepted per second per replica."),
  target: number({ minimum: 0.001 }).required().describe("The per-replica value the pool is sized for."),
  prometheusUrl: string({ pattern: "^https?://", maxLength: 2048 }).describe(
    "Absent: the operator scrapes the relays' /metrics itself.",
  ),
  tolerance: number({ minimum: 0, maximum: 1 })
    .default(0.1)
    .describe("Ratio within which the current size is kept (HPA's default 0.1)."),
  scaleUpStabilizationSeconds: integer({ minimum: 0, maximum: 3600 }).default(0),
  scaleDownStabilizationSeconds: integer({ minimum: 0, maximum: 3600 }).default(300),
  intervalSeconds: integer({ minimum: 1, maximum: 600 }).default(15).describe("How often metrics are read."),
})
  .describe("Present: the operator sizes the pool from metrics and spec.replicas is ignored.")
  .validate({
    rule: "self.minReplicas <= self.maxReplicas",
    message: "minReplicas must not be greater than maxReplicas",
    fieldPath: ".minReplicas",
  });

/** The SMTP port of implicit TLS (RFC 8314): a listener that starts with the TLS handshake. */
export const SMTPS_PORT = 465;

const secretKeyRef = object({
  name: string({ minLength: 1, maxLength: 253 }).required(),
  key: string({ minLength: 1, maxLength: 253 }).required(),
});

export const relayPoolSpecSchema = object({
  replicas: integer({ minimum: 0, maximum: 1000 })
    .default(1)
    .describe("The scale subresource writes here; used when autoscaling is absent."),
  autoscaling: autoscalingSchema,
  image: string({ minLength: 1, maxLength: 512 })
    .default("relayfleet:0.1.0")
    .describe("The image `npm run image` builds (Containerfile); push it and name yours in a real cluster."),
  imagePullPolicy: oneOf(["Always", "IfNotPresent", "Never"] as const),
  hostname: string({ pattern: DNS_NAME, maxLength: 253 }).describe(
    "DNS name whose A records list the ready relays (an ExternalDNS DNSEndpoint).",
  ),
  dnsTTL: integer({ minimum: 1, maximum: 86400 }).default(60),
  mode: oneOf(["full", "passthrough"] as const).default("full"),
  senderRoute: string({ minLength: 1, maxLength: 253 })
    .default("default")
    .describe("The SenderRoute (in this namespace) this pool's mail routes through by default."),
  redis: object({
    url: string({ pattern: "^rediss?://", maxLength: 2048 }),
    secretRef: secretKeyRef,
    cluster: boolean()
      .default(false)
      .describe("The URL names a node of a Redis Cluster (the relays discover the others)."),
  })
    .required()
    .validate({
      rule: "has(self.url) != has(self.secretRef)",
      message: "set exactly one of url or secretRef",
    }),
  trackingBaseUrl: string({ pattern: "^https?://", maxLength: 2048 }),
  apiTokenSecretRef: secretKeyRef.describe(
    "Holds the relays' admin API token; created by the operator when absent.",
  ),
  trackingSecretRef: secretKeyRef.describe(
    "Holds the key that signs tracking links and VERP return paths; created by the operator when absent. Every relay of the pool gets the same one, so any relay verifies a link another relay wrote.",
  ),
  workload: oneOf(["StatefulSet", "Deployment"] as const)
    .default("StatefulSet")
    .describe(
      "StatefulSet: a spool volume per relay that outlives the pod. Deployment: emptyDir spool, drained before removal.",
    ),
  spool: object({
    size: string({ pattern: "^[0-9]+(Ki|Mi|Gi|Ti)?$" }).default("10Gi"),
    storageClassName: string({ maxLength: 253 }),
  }).default({ size: "10Gi" }),
  smtpPorts: array(integer({ minimum: 1, maximum: 65535 }), {
    minItems: 1,
    maxItems: 8,
    listType: "set",
  })
    .default([25, 587])
    .describe(
      "465 is implicit TLS (the relay's listen.smtps) and needs spec.tls; the others offer STARTTLS.",
    ),
  tls: object({
    secretName: string({ minLength: 1, maxLength: 253 })
      .required()
      .describe(
        "A kubernetes.io/tls Secret in the pool's namespace (tls.crt, tls.key), e.g. a cert-manager Certificate's.",
      ),
  }).describe(
    "The relays' certificate, mounted into every relay and re-read when the Secret changes. Absent: no STARTTLS, no port 465, and the relays offer no AUTH off loopback.",
  ),
  service: object({
    type: oneOf(["LoadBalancer", "NodePort", "ClusterIP"] as const).default("LoadBalancer"),
    annotations: stringMap(),
    publishAddresses: oneOf(["nodes", "loadBalancer"] as const)
      .default("nodes")
      .describe(
        "nodes: the DNS records list the ready relays' node or pod addresses (spec.endpointAddress); loadBalancer: the SMTP Service's load balancer addresses (status.loadBalancer.ingress).",
      ),
  })
    .default({ type: "LoadBalancer", publishAddresses: "nodes" })
    .validate({
      rule: "self.publishAddresses != 'loadBalancer' || self.type == 'LoadBalancer'",
      message: "publishAddresses loadBalancer needs type LoadBalancer",
      fieldPath: ".publishAddresses",
    }),
  clientIp: object({
    preserve: oneOf(["local", "proxyProtocol"] as const)
      .default("local")
      .describe(
        "local: externalTrafficPolicy Local keeps the client's address (no SNAT); proxyProtocol: the load balancer sends a PROXY header, trusted only from proxyFrom.",
      ),
    proxyFrom: array(string({ pattern: IP, maxLength: 64 }), { maxItems: 64 }).default([]),
  })
    .default({ preserve: "local", proxyFrom: [] })
    .validate({
      rule: "self.preserve != 'proxyProtocol' || size(self.proxyFrom) > 0",
      message: "proxyProtocol needs the load balancer addresses in proxyFrom",
      fieldPath: ".proxyFrom",
    }),
  trackingForwardedFrom: array(string({ pattern: "^[0-9a-fA-F.:]+(/[0-9]{1,3})?$", maxLength: 64 }), {
    maxItems: 64,
  }).describe(
    "The ingress or load balancer in front of the tracking Service (IPs or CIDR ranges): its X-Forwarded-For is believed, so opens and clicks carry the reader's address.",
  ),
  endpointAddress: oneOf(["hostIP", "podIP"] as const)
    .default("hostIP")
    .describe("Which address of a ready relay the DNS records publish."),
  drain: object({
    timeoutSeconds: integer({ minimum: 0, maximum: 86400 }).default(300),
  }).default({ timeoutSeconds: 300 }),
  podDisruptionBudget: object({
    maxUnavailable: integer({ minimum: 0 }).default(1),
  }).default({ maxUnavailable: 1 }),
  resources: opaque<Record<string, unknown>>("object"),
  topologySpreadConstraints: opaque<Record<string, unknown>[]>("array").describe(
    "Absent: relays spread over nodes (a soft spread on kubernetes.io/hostname); given: used instead.",
  ),
  affinity: opaque<Record<string, unknown>>("object").describe(
    "Absent: relays prefer nodes without another relay of the pool; given: used instead.",
  ),
  nodeSelector: stringMap(),
  tolerations: opaque<Record<string, unknown>[]>("array"),
  podAnnotations: stringMap(),
  serviceMonitorLabels: stringMap().describe(
    "Labels on the relays' ServiceMonitor, for a Prometheus that selects by label (kube-prometheus-stack: `release: <its release name>`).",
  ),
  debug: boolean().default(false).describe("Relays log at debug level (wins over relay.logLevel)."),
  relay: poolRelaySettings,
}).validate({
  rule: `!(${SMTPS_PORT} in self.smtpPorts) || has(self.tls)`,
  message: "port 465 (implicit TLS) needs spec.tls.secretName",
  fieldPath: ".tls",
  reason: "FieldValueRequired",
});

export const relayPoolStatusSchema = object({
  replicas: integer({ minimum: 0 }),
  readyReplicas: integer({ minimum: 0 }),
  desiredReplicas: integer({ minimum: 0 }),
  selector: string().describe("The scale subresource's labelSelectorPath (a string, as HPA wants it)."),
  endpoints: array(string(), { maxItems: 1000 }),
  conditions: conditionsSchema,
  observedGeneration: integer({ minimum: 0 }),
  lastScaleTime: string({ format: "date-time" }),
  currentMetricValue: number().describe(
    "The metric value behind the last autoscaling decision (per replica).",
  ),
});

export type RelayPoolSpec = Infer<typeof relayPoolSpecSchema>;
export type RelayPoolStatus = Infer<typeof relayPoolStatusSchema>;
export type Autoscaling = Infer<typeof autoscalingSchema>;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RelayPool {
  apiVersion: "relayfleet.io/v1alpha1";
  kind: "RelayPool";
  metadata: ObjectMeta;
  spec: RelayPoolSpec;
  status?: RelayPoolStatus;
}
