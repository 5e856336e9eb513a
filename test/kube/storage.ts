/**
 * The object store: one global revision counter (etcd's), objects per
 * resource, and a bounded history of changes so watches can resume from a
 * resourceVersion, or be told 410 Gone when it has been compacted away.
 * Everything is synchronous: a request is one critical section, as a
 * transaction would be.
 */
import { deepClone, type JsonObject, stringAt } from "./json.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoredEvent {
  type: WatchEventType;
  /** resourceKey(): "apps/deployments" */
  resource: string;
  revision: number;
  object: JsonObject;
}

export type StorageListener = (event: StoredEvent) => void;

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

export class Storage {
  private revision = 1000;
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private history: StoredEvent[] = [];
  /** Watches may resume from any revision >= this one. */
  private oldestResumable = 1000;
  private readonly listeners = new Set<StorageListener>();

  constructor(private readonly historyLimit = 2000) {}

  currentRevision(): number {
    return this.revision;
  }

  get(resource: string, namespace: string | undefined, name: string): JsonObject | undefined {
    const found = this.objects.get(resource)?.get(objectKey(namespace, name));
    return found ? deepClone(found) : undefined;
  }

  /** Objects of a resource, in one namespace or all, sorted as etcd keys sort. */
  list(resource: string, namespace?: string): JsonObject[] {
    const all = this.objects.get(resource);
    if (!all) return [];
    const keys = [...all.keys()].sort();
    const out: JsonObject[] = [];
    for (const key of keys) {
      const object = all.get(key);
      if (!object) continue;
      if (namespace !== undefined && stringAt(object, "metadata", "namespace") !== namespace) continue;
      out.push(deepClone(object));
    }
    return out;
  }

  resources(): string[] {
    return [...this.objects.keys()];
  }

  /** Stores a new or changed object, stamping metadata.resourceVersion; returns what was stored. */
  put(resource: string, object: JsonObject): JsonObject {
    const metadata = object.metadata as JsonObject;
    const name = String(metadata.name);
    const namespace = stringAt(object, "metadata", "namespace");
    let byKey = this.objects.get(resource);
    if (!byKey) {
      byKey = new Map();
      this.objects.set(resource, byKey);
    }
    const key = objectKey(namespace, name);
    const type: WatchEventType = byKey.has(key) ? "MODIFIED" : "ADDED";
    this.revision += 1;
    const stored = deepClone(object);
    (stored.metadata as JsonObject).resourceVersion = String(this.revision);
    byKey.set(key, stored);
    this.record({ type, resource, revision: this.revision, object: stored });
    return deepClone(stored);
  }

  remove(resource: string, namespace: string | undefined, name: string): JsonObject | undefined {
    const byKey = this.objects.get(resource);
    const key = objectKey(namespace, name);
    const existing = byKey?.get(key);
    if (!byKey || !existing) return undefined;
    byKey.delete(key);
    this.revision += 1;
    const removed = deepClone(existing);
    (removed.metadata as JsonObject).resourceVersion = String(this.revision);
    this.record({ type: "DELETED", resource, revision: this.revision, object: removed });
    return deepClone(removed);
  }

  /** Drops every object of a resource without events (a CRD's resource going away after its cleanup). */
  forget(resource: string): void {
    this.objects.delete(resource);
  }

  /**
   * Changes to `resource` after `revision`, or "expired" when the history no
   * longer reaches back that far (the watch must answer 410 and the client relist).
   */
  eventsSince(resource: string, revision: number): StoredEvent[] | "expired" {
    if (revision < this.oldestResumable) return "expired";
    return this.history
      .filter((event) => event.resource === resource && event.revision > revision)
      .map((event) => ({
        ...event,
        object: deepClone(event.object),
      }));
  }

  /** Forgets all history, as etcd compaction does: older resourceVersions become too old to watch from. */
  compact(): void {
    this.history = [];
    this.oldestResumable = this.revision;
  }

  subscribe(listener: StorageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(event: StoredEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      const last = dropped.at(-1);
      if (last) this.oldestResumable = last.revision;
    }
    for (const listener of this.listeners) listener({ ...event, object: deepClone(event.object) });
  }
}
