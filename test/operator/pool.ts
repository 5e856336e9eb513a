/** One RelayPool for tests of the operator's pure parts and of the kubelet: every field set, as the CRD defaults them. */
import type { ObjectMeta, RelayPool, RelayPoolSpec, RelayPoolStatus } from "../../operator/api/relaypool.js";

export const TEST_POOL_SPEC: RelayPoolSpec = {
  replicas: 2,
  image: "relayfleet:0.1.0",
  hostname: "smtp.example.com",
  dnsTTL: 60,
  mode: "full",
  senderRoute: "default",
  redis: { secretRef: { name: "redis", key: "url" }, cluster: false },
  workload: "StatefulSet",
  spool: { size: "5Gi" },
  smtpPorts: [25, 587],
  service: { type: "LoadBalancer", publishAddresses: "nodes" },
  clientIp: { preserve: "local", proxyFrom: [] },
  endpointAddress: "hostIP",
  drain: { timeoutSeconds: 60 },
  podDisruptionBudget: { maxUnavailable: 1 },
  debug: false,
};

export function testPool(
  spec: Partial<RelayPoolSpec> = {},
  metadata: Partial<ObjectMeta> = {},
  status?: RelayPoolStatus,
): RelayPool {
  return {
    apiVersion: "relayfleet.io/v1alpha1",
    kind: "RelayPool",
    metadata: { name: "p", namespace: "mail", uid: "u-1", generation: 1, ...metadata },
    spec: { ...TEST_POOL_SPEC, ...spec },
    ...(status ? { status } : {}),
  };
}
