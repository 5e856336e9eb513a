import { describe, expect, it } from "vitest";
import {
  afterExit,
  fitsNode,
  NODE_LABELS,
  nodeProgram,
  podStatus,
  runsAsNodeProgram,
  serviceRecords,
} from "./kubelet-pods.js";

type Json = Record<string, unknown>;

const pod = (name: string, labels: Record<string, string>, status: Json, extra: Json = {}): Json => ({
  metadata: { name, namespace: "mail", labels, ...extra },
  status,
});
const ready = (ip: string, isReady: boolean) => ({
  phase: "Running",
  podIP: ip,
  conditions: [{ type: "Ready", status: isReady ? "True" : "False" }],
});

describe("the kubelet's decisions for non-relay pods", () => {
  it("runs a container whose command is the image's node as that program, /app being the repository", () => {
    const container = {
      name: "smtp",
      command: ["/usr/local/bin/node", "-e"],
      args: ["console.log(1)"],
      workingDir: "/app",
    };
    expect(runsAsNodeProgram(container)).toBe(true);
    expect(
      runsAsNodeProgram({ name: "relay", args: ["relay", "--config", "/etc/relayfleet/relay.yaml"] }),
    ).toBe(false);
    expect(nodeProgram(container, { mounts: [] }, "/repo")).toEqual({
      args: ["-e", "console.log(1)"],
      cwd: "/repo",
    });
    expect(
      nodeProgram(
        { name: "x", command: ["/usr/local/bin/node", "/app/dist/x.js", "/data/in"] },
        { mounts: [{ mountPath: "/data", hostPath: "/pods/p/volumes/data" }] },
        "/repo",
      ),
    ).toEqual({ args: ["/repo/dist/x.js", "/pods/p/volumes/data/in"], cwd: "/repo" });
  });

  it("restarts or completes a container as its pod's restartPolicy says", () => {
    expect(afterExit(undefined, 0)).toBe("restart");
    expect(afterExit("Always", 1)).toBe("restart");
    expect(afterExit("Never", 0)).toBe("Succeeded");
    expect(afterExit("Never", 1)).toBe("Failed");
    expect(afterExit("OnFailure", 0)).toBe("Succeeded");
    expect(afterExit("OnFailure", 2)).toBe("restart");
  });

  it("reports a finished container's terminated state, and a completed pod not ready", () => {
    const status = podStatus({
      phase: "Failed",
      podIp: "127.0.8.3",
      ready: false,
      restarts: 0,
      startedAt: "2025-01-01T00:00:00.000Z",
      container: "smtp",
      terminated: { exitCode: 1, finishedAt: "2025-01-01T00:00:02.000Z" },
    });
    expect(status).toMatchObject({
      phase: "Failed",
      conditions: expect.arrayContaining([{ type: "Ready", status: "False", reason: "PodCompleted" }]),
      containerStatuses: [
        {
          name: "smtp",
          started: false,
          state: {
            terminated: {
              exitCode: 1,
              reason: "Error",
              startedAt: "2025-01-01T00:00:00.000Z",
              finishedAt: "2025-01-01T00:00:02.000Z",
            },
          },
        },
      ],
    });
    expect(
      podStatus({ phase: "Running", ready: true, restarts: 0, startedAt: "t" }).containerStatuses,
    ).toMatchObject([{ name: "relay", state: { running: { startedAt: "t" } } }]);
  });

  it("takes only pods whose nodeSelector matches this node", () => {
    expect(fitsNode({ spec: {} }, NODE_LABELS)).toBe(true);
    expect(fitsNode({ spec: { nodeSelector: { "kubernetes.io/os": "linux" } } }, NODE_LABELS)).toBe(true);
    expect(fitsNode({ spec: { nodeSelector: { "relayfleet.test/node": "elsewhere" } } }, NODE_LABELS)).toBe(
      false,
    );
  });

  it("answers a Service's DNS names with its selected pods' addresses, ready ones unless told otherwise", () => {
    const services = [
      { metadata: { name: "example-smtp", namespace: "mail" }, spec: { selector: { pool: "example" } } },
      {
        metadata: { name: "example-relays", namespace: "mail" },
        spec: { selector: { pool: "example" }, publishNotReadyAddresses: true },
      },
      { metadata: { name: "external", namespace: "mail" }, spec: { type: "ExternalName" } },
    ];
    const pods = [
      pod("example-1", { pool: "example" }, ready("127.0.8.2", true)),
      pod("example-0", { pool: "example" }, ready("127.0.8.1", true)),
      pod("example-2", { pool: "example" }, ready("127.0.8.4", false)),
      pod("example-3", { pool: "example" }, ready("127.0.8.5", true), { deletionTimestamp: "t" }),
      pod("other", { pool: "other" }, ready("127.0.8.6", true)),
      {
        metadata: { name: "elsewhere", namespace: "news", labels: { pool: "example" } },
        status: ready("127.0.8.7", true),
      },
    ];
    const records = serviceRecords(services, pods);
    expect(records).toEqual({
      "example-smtp.mail.svc": ["127.0.8.1", "127.0.8.2"],
      "example-smtp.mail.svc.cluster.local": ["127.0.8.1", "127.0.8.2"],
      "example-relays.mail.svc": ["127.0.8.1", "127.0.8.2", "127.0.8.4"],
      "example-relays.mail.svc.cluster.local": ["127.0.8.1", "127.0.8.2", "127.0.8.4"],
    });
  });
});
