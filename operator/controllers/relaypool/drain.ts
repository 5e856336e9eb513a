/**
 * Draining before scale-down, kept on the pods themselves so an operator
 * restart or a new leader picks up where the last one stopped:
 *   1. `relayfleet.io/drain-started` on the pod: it leaves the DNS records
 *      (isServing) but still takes mail, so a client that resolved the name
 *      before the change is not refused;
 *   2. once the records' TTL (spec.dnsTTL) has passed,
 *      `relayfleet.io/drain-requested` and POST /v1/admin/drain: the relay
 *      stops taking mail (421, /readyz fails) and keeps delivering its spool;
 *   3. when its relayfleet_queue_messages reaches 0, `relayfleet.io/drained-at`
 *      (and for a Deployment the lowest pod-deletion-cost, so that exactly
 *      this pod goes);
 *   4. if drain.timeoutSeconds after the request mail is still queued (a
 *      slow or refusing next hop), `relayfleet.io/handoff-requested` and
 *      POST /v1/admin/handoff with the serving relays as targets: it passes
 *      each message, with its progress, to them (relay/spool/handoff.ts);
 *      drained once its queue is 0, or after another timeoutSeconds;
 *   5. only then are replicas lowered.
 * Mail a hand-off could not place (no serving relay, all refusing) stays on
 * the relay's volume (a StatefulSet keeps the claim) and goes out when that
 * ordinal runs again.
 * A relay told to drain for a scale-down that was then called off is
 * restarted (deleted; its workload recreates it) since there is no "undrain";
 * one still waiting out the TTL just loses its annotation and is back in DNS.
 */
import type { RelayPool } from "../../api/relaypool.js";
import type { KubeObject } from "../../kube/client.js";
import type { PodView } from "../../specs/endpoints.js";
import {
  DELETION_COST_ANNOTATION,
  DRAIN_REQUESTED_ANNOTATION,
  DRAIN_STARTED_ANNOTATION,
  DRAINED_ANNOTATION,
  HANDOFF_ANNOTATION,
} from "../../specs/labels.js";
import type { ControllerContext } from "../context.js";
import { fetchText, QUEUE_METRIC, sumSamples } from "./metric-source.js";

const PODS = (namespace: string) => ({ apiVersion: "v1", plural: "pods", namespace });

export interface DrainProgress {
  /** Every victim is drained: replicas may go down. */
  done: boolean;
  drained: string[];
  waiting: string[];
  /** Relays drained at the deadline with mail still queued (undefined: the count could not be read). */
  stranded: { pod: string; queued: number | undefined }[];
}

async function annotate(
  ctx: ControllerContext,
  pod: KubeObject,
  annotations: Record<string, string | null>,
): Promise<void> {
  await ctx.client.mergePatch(PODS(pod.metadata?.namespace ?? ""), pod.metadata?.name ?? "", {
    metadata: { annotations },
  });
}

async function requestDrain(ctx: ControllerContext, pod: PodView, token: string): Promise<void> {
  const address = ctx.relayAddress(pod);
  if (!address) throw new Error(`pod ${pod.metadata?.name} has no address yet`);
  // The relay answers once it has stopped accepting; delivery of its queue goes on after.
  const response = await fetch(`${address.api}/v1/admin/drain`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(ctx.fetchTimeoutMs),
  });
  if (!response.ok) throw new Error(`drain of ${pod.metadata?.name}: HTTP ${response.status}`);
}

async function requestHandoff(
  ctx: ControllerContext,
  pod: PodView,
  token: string,
  targets: string[],
): Promise<void> {
  const address = ctx.relayAddress(pod);
  if (!address) throw new Error(`pod ${pod.metadata?.name} has no address`);
  const response = await fetch(`${address.api}/v1/admin/handoff`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ targets }),
    signal: AbortSignal.timeout(ctx.fetchTimeoutMs),
  });
  if (response.status !== 202) throw new Error(`hand-off of ${pod.metadata?.name}: HTTP ${response.status}`);
}

async function queueOf(ctx: ControllerContext, pod: PodView): Promise<number | undefined> {
  const address = ctx.relayAddress(pod);
  if (!address) return undefined;
  const text = await fetchText(address.metrics, ctx.fetchTimeoutMs).catch(() => undefined);
  return text === undefined ? undefined : (sumSamples(text, QUEUE_METRIC) ?? 0);
}

export async function drainVictims(
  ctx: ControllerContext,
  pool: RelayPool,
  victims: readonly PodView[],
  apiToken: string,
  /** The relays that stay and serve: where a victim out of time hands its queue. */
  stayers: readonly PodView[] = [],
): Promise<DrainProgress> {
  const drained: string[] = [];
  const waiting: string[] = [];
  const stranded: DrainProgress["stranded"] = [];
  const deadlineMs = pool.spec.drain.timeoutSeconds * 1000;
  for (const pod of victims) {
    const name = pod.metadata?.name ?? "";
    const annotations = pod.metadata?.annotations ?? {};
    if (annotations[DRAINED_ANNOTATION]) {
      drained.push(name);
      continue;
    }
    // A pod that never ran has nothing queued.
    if (pod.status?.phase !== "Running") {
      await annotate(ctx, pod, {
        [DRAINED_ANNOTATION]: new Date(ctx.now()).toISOString(),
        [DELETION_COST_ANNOTATION]: "-1000",
      });
      drained.push(name);
      continue;
    }
    let started = Date.parse(annotations[DRAIN_STARTED_ANNOTATION] ?? "");
    if (Number.isNaN(started)) {
      started = ctx.now();
      await annotate(ctx, pod, { [DRAIN_STARTED_ANNOTATION]: new Date(started).toISOString() });
      await ctx.recorder.record(
        pool as never,
        "Normal",
        "LeavingDNS",
        `relay ${name} leaves the DNS records; it drains once their ${pool.spec.dnsTTL} s TTL has passed`,
      );
    }
    let requested = Date.parse(annotations[DRAIN_REQUESTED_ANNOTATION] ?? "");
    if (Number.isNaN(requested)) {
      // Clients may hold the old records for a TTL: until then the relay keeps taking their mail.
      if (ctx.now() - started < pool.spec.dnsTTL * 1000) {
        waiting.push(name);
        continue;
      }
      requested = ctx.now();
      await annotate(ctx, pod, { [DRAIN_REQUESTED_ANNOTATION]: new Date(requested).toISOString() });
      await requestDrain(ctx, pod, apiToken);
      await ctx.recorder.record(
        pool as never,
        "Normal",
        "Draining",
        `draining relay ${name} before removing it`,
      );
    }
    const queued = await queueOf(ctx, pod);
    const now = ctx.now();
    const handoffAt = Date.parse(annotations[HANDOFF_ANNOTATION] ?? "");
    const targets = stayers
      .map((stayer) => ctx.relayAddress(stayer)?.api)
      .filter((api): api is string => api !== undefined);
    if (queued !== 0 && now - requested >= deadlineMs && Number.isNaN(handoffAt) && targets.length > 0) {
      // Out of time with mail left: give it to the relays that stay rather than strand it.
      // Asked first, then noted: a failed request is asked again next round; asking twice is harmless.
      await requestHandoff(ctx, pod, apiToken, targets);
      await annotate(ctx, pod, { [HANDOFF_ANNOTATION]: new Date(now).toISOString() });
      await ctx.recorder.record(
        pool as never,
        "Normal",
        "HandingOff",
        `relay ${name} still had ${queued ?? "an unknown number of"} messages at the drain deadline; handing them to ${targets.length} relay(s)`,
      );
      waiting.push(name);
      continue;
    }
    const overdue = Number.isNaN(handoffAt) ? now - requested >= deadlineMs : now - handoffAt >= deadlineMs;
    if (queued === 0 || overdue) {
      await annotate(ctx, pod, {
        [DRAINED_ANNOTATION]: new Date(now).toISOString(),
        [DELETION_COST_ANNOTATION]: "-1000",
      });
      const outcome = queued !== 0 ? "deadline" : Number.isNaN(handoffAt) ? "empty" : "handoff";
      ctx.metrics.drains.inc({ outcome });
      await ctx.recorder.record(
        pool as never,
        outcome === "deadline" ? "Warning" : "Normal",
        "Drained",
        outcome === "empty"
          ? `relay ${name} drained: its spool is empty`
          : outcome === "handoff"
            ? `relay ${name} drained: it handed its queue to the other relays`
            : `relay ${name} still had ${queued ?? "an unknown number of"} messages at the drain deadline; they stay on its volume`,
      );
      if (outcome === "deadline") stranded.push({ pod: name, queued });
      drained.push(name);
    } else waiting.push(name);
  }
  return { done: waiting.length === 0, drained, waiting, stranded };
}

/**
 * Pods chosen to leave that no longer are (the scale-down was called off):
 * those already told to drain are restarted, those still waiting out the
 * TTL are simply taken back.
 */
export async function restartCancelledDrains(
  ctx: ControllerContext,
  pods: readonly PodView[],
  victims: readonly PodView[],
): Promise<string[]> {
  const leaving = new Set(victims.map((pod) => pod.metadata?.uid));
  const restarted: string[] = [];
  for (const pod of pods) {
    if (leaving.has(pod.metadata?.uid) || pod.metadata?.deletionTimestamp) continue;
    if (!pod.metadata?.annotations?.[DRAIN_STARTED_ANNOTATION]) continue;
    if (!pod.metadata.annotations[DRAIN_REQUESTED_ANNOTATION]) {
      await annotate(ctx, pod, { [DRAIN_STARTED_ANNOTATION]: null });
      continue;
    }
    await ctx.client.delete(PODS(pod.metadata.namespace ?? ""), pod.metadata.name ?? "");
    restarted.push(pod.metadata.name ?? "");
  }
  return restarted;
}
