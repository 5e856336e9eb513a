/**
 * The example RelayPool and SenderRoute for a fleet on one machine: the same
 * shape as crds/examples/, with the addresses of this machine's pieces (the
 * fleet's Redis and Prometheus, the SMTP peers playing each domain's ISP).
 * Each ISP is reached by two senders that differ only in their source
 * address, so a block of one address fails over to the other. Pure.
 */
import { stringify } from "yaml";

export interface ExampleInputs {
  redisUrl: string;
  prometheusUrl: string;
  /** Recipient domain → its ISP's SMTP address. */
  isps: { domain: string; host: string; port: number }[];
  sourceAddresses: readonly [string, string];
  autoscaling?: {
    minReplicas: number;
    maxReplicas: number;
    target: number;
    scaleDownStabilizationSeconds: number;
  };
  drainTimeoutSeconds?: number;
  trackingBaseUrl: string;
  /** The pool's certificate (PEM): written as the kubernetes.io/tls Secret `marathon-tls`, named in spec.tls. */
  tls?: { cert: string; key: string };
  /** spec.smtpPorts (default [25]); 465 needs tlsSecretName. */
  smtpPorts?: number[];
  /** spec.relay: the pool's relay settings, named as in relay.yaml. */
  relay?: Record<string, unknown>;
}

/** "isp-a.test" → "isp-a": sender names are short and readable. */
const short = (domain: string) => domain.split(".")[0] as string;

export function senderName(domain: string, sourceIndex: number): string {
  return `${short(domain)}-via-${sourceIndex + 1}`;
}

export function exampleObjects(inputs: ExampleInputs): Record<string, unknown>[] {
  const autoscaling = inputs.autoscaling ?? {
    minReplicas: 2,
    maxReplicas: 5,
    target: 20,
    scaleDownStabilizationSeconds: 10,
  };
  const route = {
    apiVersion: "relayfleet.io/v1alpha1",
    kind: "SenderRoute",
    metadata: { name: "default", namespace: "mail" },
    spec: {
      policy: "failover",
      senders: inputs.isps.flatMap((isp) =>
        inputs.sourceAddresses.map((address, index) => ({
          name: senderName(isp.domain, index),
          host: isp.host,
          port: isp.port,
          localAddress: address,
          tls: "none",
          maxConnections: 2,
        })),
      ),
      domains: inputs.isps.map((isp) => ({
        match: [isp.domain],
        senders: inputs.sourceAddresses.map((_, index) => senderName(isp.domain, index)),
      })),
      blocking: { holdSeconds: 600, patterns: ["blocked using"] },
    },
  };
  const pool = {
    apiVersion: "relayfleet.io/v1alpha1",
    kind: "RelayPool",
    metadata: { name: "marathon", namespace: "mail" },
    spec: {
      autoscaling: {
        ...autoscaling,
        metric: "queue",
        prometheusUrl: inputs.prometheusUrl,
        intervalSeconds: 1,
        scaleUpStabilizationSeconds: 0,
      },
      hostname: "smtp-marathon.example.com",
      dnsTTL: 5,
      mode: "full",
      senderRoute: "default",
      redis: { url: inputs.redisUrl },
      smtpPorts: inputs.smtpPorts ?? [25],
      trackingBaseUrl: inputs.trackingBaseUrl,
      drain: { timeoutSeconds: inputs.drainTimeoutSeconds ?? 20 },
      ...(inputs.tls ? { tls: { secretName: TLS_SECRET } } : {}),
      ...(inputs.relay ? { relay: inputs.relay } : {}),
    },
  };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "mail" } },
    ...(inputs.tls ? [tlsSecret(inputs.tls.cert, inputs.tls.key)] : []),
    route,
    pool,
  ];
}

export const TLS_SECRET = "marathon-tls";

/** The Secret a cert-manager Certificate writes: type kubernetes.io/tls, tls.crt and tls.key. */
export function tlsSecret(certPem: string, keyPem: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name: TLS_SECRET, namespace: "mail" },
    data: {
      "tls.crt": Buffer.from(certPem).toString("base64"),
      "tls.key": Buffer.from(keyPem).toString("base64"),
    },
  };
}

export function exampleYaml(inputs: ExampleInputs): string {
  return exampleObjects(inputs)
    .map((object) => stringify(object))
    .join("---\n");
}
