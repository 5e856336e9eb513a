/**
 * Kubernetes Events for what the operator does (`kubectl describe rp NAME`
 * shows them). Repeats of the same reason and message on the same object
 * bump the count of one Event instead of piling up new ones, as client-go's
 * recorder does. Failing to record an Event never fails a reconcile.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { isNotFound, type KubeClient, type KubeObject } from "./client.js";

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(object: KubeObject, type: EventType, reason: string, message: string): Promise<void>;
}

export function eventRecorder(client: KubeClient, component: string, logger: Logger): EventRecorder {
  return {
    async record(object, type, reason, message) {
      const meta = object.metadata ?? {};
      const namespace = meta.namespace ?? "default";
      const digest = createHash("sha256")
        .update(`${meta.uid}\u0000${type}\u0000${reason}\u0000${message}`)
        .digest("hex")
        .slice(0, 16);
      const name = `${meta.name}.${digest}`;
      const ref = { apiVersion: "v1", plural: "events", namespace };
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      try {
        const existing = await client.find<KubeObject & { count?: number }>(ref, name);
        if (existing) {
          await client.mergePatch(ref, name, { count: (existing.count ?? 1) + 1, lastTimestamp: now });
          return;
        }
        await client.create(ref, {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: meta.name,
            namespace,
            uid: meta.uid,
            resourceVersion: meta.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component },
          reportingComponent: component,
          reportingInstance: component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        });
      } catch (error) {
        if (!isNotFound(error)) logger.warn({ err: error, reason }, "could not record an event");
      }
    },
  };
}
