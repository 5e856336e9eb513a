/**
 * A watch that keeps going. @kubernetes/client-node 1.4's informer relists
 * on 410 Gone, but on any other error it emits `error` and stops; its
 * handlers are not awaited; it asks for no bookmarks and never resyncs; and
 * a half-open watch can hang for ever (its 30 s timeout is never applied).
 * This wrapper:
 *   - only turns events into work-queue keys (handlers never do work);
 *   - restarts after an error with capped exponential backoff;
 *   - restarts a watch that has been silent for `watchdogMs` (a half-open
 *     connection looks exactly like a quiet resource, so quiet ones restart too);
 *   - relists everything every `relistMs`, and enqueues every key it holds,
 *     including keys that vanished while no watch was running.
 * A restart uses a fresh client-node informer, so it always begins with a
 * full list: nothing said while the old watch was stuck is lost.
 */
import { type KubeConfig, type KubernetesObject, makeInformer } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type KubeClient, type KubeObject, type ResourceRef, resourcePath } from "./client.js";
import { backoffDelay } from "./workqueue.js";

export interface InformerOptions {
  ref: ResourceRef;
  labelSelector?: string;
  /** Work-queue keys an object maps to (its own "ns/name", or its owner's). */
  keysFor: (object: KubeObject) => string[];
  enqueue: (key: string) => void;
  watchdogMs?: number;
  relistMs?: number;
  backoff?: { baseMs: number; maxMs: number };
  logger: Logger;
}

type ClientInformer = ReturnType<typeof makeInformer<KubernetesObject>>;

export class ResilientInformer {
  private informer: ClientInformer | undefined;
  /** The last informer that finished listing: list() reads it, so a restart never shows an empty cache. */
  private view: ClientInformer | undefined;
  private lastActivity = Date.now();
  private failures = 0;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private lastRelist = Date.now();
  private synced = false;
  /** Restarts so far (for tests and the operator's own metrics). */
  restarts = 0;

  constructor(
    private readonly config: KubeConfig,
    private readonly client: KubeClient,
    private readonly options: InformerOptions,
  ) {}

  /** Resolves after the first full list has been delivered. */
  async start(): Promise<void> {
    this.stopped = false;
    const tickMs = Math.min(this.watchdogMs, this.relistMs) / 4;
    this.ticker = setInterval(() => this.tick(), Math.max(tickMs, 50));
    this.ticker.unref();
    await this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
  }

  /** The objects of the current list-and-watch (a read-only view; the API is the truth). */
  list(): KubeObject[] {
    return (this.view?.list() ?? []) as KubeObject[];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  private get watchdogMs(): number {
    return this.options.watchdogMs ?? 300_000;
  }

  private get relistMs(): number {
    return this.options.relistMs ?? 600_000;
  }

  private tick(): void {
    if (this.stopped || this.restartTimer) return;
    const now = Date.now();
    if (now - this.lastRelist >= this.relistMs) {
      this.options.logger.debug({ path: resourcePath(this.options.ref) }, "periodic relist");
      void this.restart();
    } else if (now - this.lastActivity >= this.watchdogMs) {
      this.options.logger.info(
        { path: resourcePath(this.options.ref) },
        "watch silent too long; restarting it",
      );
      void this.restart();
    }
  }

  private emit(object: KubeObject): void {
    this.lastActivity = Date.now();
    for (const key of this.options.keysFor(object)) this.options.enqueue(key);
  }

  private async open(): Promise<void> {
    const { ref, labelSelector } = this.options;
    const previous = this.informer ? this.list() : [];
    const informer = makeInformer<KubernetesObject>(
      this.config,
      resourcePath(ref),
      async () => this.client.list(ref, labelSelector) as never,
      labelSelector,
    );
    const onObject = (object: KubernetesObject) => this.emit(object as KubeObject);
    informer.on("add", onObject);
    informer.on("update", onObject);
    informer.on("delete", onObject);
    informer.on("connect", () => {
      this.lastActivity = Date.now();
    });
    informer.on("error", (error: unknown) => {
      if (this.informer !== informer || this.stopped) return;
      this.failures += 1;
      const delay = backoffDelay(this.failures, this.options.backoff ?? { baseMs: 250, maxMs: 30_000 });
      this.options.logger.warn({ err: error, path: resourcePath(ref), delay }, "watch failed; restarting");
      this.scheduleRestart(delay);
    });
    const old = this.informer;
    this.informer = informer;
    await old?.stop();
    this.lastActivity = Date.now();
    this.lastRelist = Date.now();
    try {
      await informer.start();
    } catch (error) {
      // start() rejects only when listing failed before any error event; treat it the same way.
      this.failures += 1;
      this.options.logger.warn({ err: error, path: resourcePath(ref) }, "list failed; retrying");
      this.scheduleRestart(
        backoffDelay(this.failures, this.options.backoff ?? { baseMs: 250, maxMs: 30_000 }),
      );
      return;
    }
    // A failed list is reported through `error` (which scheduled a restart), not by a rejection.
    if (this.informer !== informer || this.restartTimer) return;
    this.failures = 0;
    this.synced = true;
    this.view = informer;
    // Everything now listed gets a look (a resync), and so does whatever vanished in between.
    const now = new Set(this.list().map(objectKey));
    for (const object of previous) if (!now.has(objectKey(object))) this.emit(object);
    for (const object of this.list()) this.emit(object);
  }

  private scheduleRestart(delay: number): void {
    if (this.stopped || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    this.restarts += 1;
    await this.open();
  }
}

export function objectKey(object: KubeObject): string {
  const meta = object.metadata ?? {};
  return meta.namespace ? `${meta.namespace}/${meta.name}` : String(meta.name);
}
