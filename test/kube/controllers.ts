/**
 * The control loops a cluster runs beside the API server, reduced to what the
 * API's visible semantics need: serving CRDs once stored, the garbage
 * collector (ownerReferences; background, foreground and orphan deletion),
 * namespace termination, and CRD cleanup. A kubelet would be one more
 * Controller (see ControllerFactory); it is not part of this server yet.
 */
import { CRD_CLEANUP_FINALIZER, typesFromCrd } from "./crd.js";
import { ApiError } from "./errors.js";
import { isObject, type JsonObject, objectAt, stringAt } from "./json.js";
import { finalizersOf } from "./lifecycle.js";
import type { ObjectService } from "./objects.js";
import { type ResourceType, resourceKey } from "./resource-types.js";
import type { Storage } from "./storage.js";
import type { TypeRegistry } from "./type-registry.js";

/** What in-process controllers get: the same object rules HTTP clients get, plus change events. */
export interface InProcessApi {
  objects: ObjectService;
  storage: Storage;
  types: TypeRegistry;
}

export interface Controller {
  stop(): void | Promise<void>;
}

/** Plug-in point for more controllers (a kubelet for end-to-end tests would be one). */
export type ControllerFactory = (api: InProcessApi) => Controller;

const CRDS = "apiextensions.k8s.io/customresourcedefinitions";

/** Serves a CRD's resources as soon as the CRD is stored; stops serving when it is gone. */
export const crdRegistration: ControllerFactory = ({ storage, types }) => {
  const unsubscribe = storage.subscribe((event) => {
    if (event.resource !== CRDS) return;
    const name = stringAt(event.object, "metadata", "name") ?? "";
    if (event.type === "DELETED") {
      const served = types.all().filter((type) => type.crdName === name);
      types.setCustom(name, []);
      for (const type of served) storage.forget(resourceKey(type));
    } else types.setCustom(name, typesFromCrd(event.object));
  });
  return { stop: unsubscribe };
};

interface Entry {
  type: ResourceType;
  object: JsonObject;
}

function ownerUids(object: JsonObject): string[] {
  const refs = objectAt(object, "metadata")?.ownerReferences;
  return Array.isArray(refs) ? refs.filter(isObject).map((ref) => String(ref.uid)) : [];
}

function uidOf(object: JsonObject): string {
  return stringAt(object, "metadata", "uid") ?? "";
}

function isDeleting(object: JsonObject): boolean {
  return stringAt(object, "metadata", "deletionTimestamp") !== undefined;
}

function everything(api: InProcessApi): Entry[] {
  const seen = new Set<string>();
  const out: Entry[] = [];
  for (const type of api.types.all()) {
    const key = resourceKey(type);
    if (seen.has(key) || type.version !== type.storageVersion) continue;
    seen.add(key);
    for (const object of api.objects.list(type, undefined)) out.push({ type, object });
  }
  return out;
}

/** One pass of the garbage collector, namespace and CRD cleanup over the whole store. */
export function sweep(api: InProcessApi): void {
  const { objects } = api;
  const all = everything(api);
  const live = new Set(all.map((entry) => uidOf(entry.object)));
  const dependentsOf = (uid: string) => all.filter((entry) => ownerUids(entry.object).includes(uid));
  const remove = (entry: Entry, propagationPolicy: "Background" | "Foreground") => {
    if (isDeleting(entry.object)) return;
    objects.delete(
      entry.type,
      stringAt(entry.object, "metadata", "namespace"),
      String(objectAt(entry.object, "metadata")?.name),
      { propagationPolicy },
    );
  };

  for (const entry of all) {
    const { type, object } = entry;
    if (!isDeleting(object)) {
      const owners = ownerUids(object);
      if (owners.length > 0 && owners.every((uid) => !live.has(uid))) remove(entry, "Background");
      continue;
    }
    const finalizers = finalizersOf(object);
    if (finalizers.includes("orphan")) {
      for (const dependent of dependentsOf(uidOf(object))) {
        const metadata = objectAt(dependent.object, "metadata") ?? {};
        const refs = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
        metadata.ownerReferences = refs.filter((ref) => !isObject(ref) || ref.uid !== uidOf(object));
        if ((metadata.ownerReferences as unknown[]).length === 0) delete metadata.ownerReferences;
        objects.putInternal(dependent.type, dependent.object);
      }
      objects.removeFinalizer(type, object, "orphan");
    } else if (finalizers.includes("foregroundDeletion")) {
      const dependents = dependentsOf(uidOf(object));
      if (dependents.length === 0) objects.removeFinalizer(type, object, "foregroundDeletion");
      for (const dependent of dependents) remove(dependent, "Foreground");
    }
    if (type.builtin && type.kind === "Namespace") finishNamespace(api, all, entry);
    if (
      type.builtin &&
      type.kind === "CustomResourceDefinition" &&
      finalizers.includes(CRD_CLEANUP_FINALIZER)
    )
      finishCrd(api, entry);
  }
}

function finishNamespace(api: InProcessApi, all: Entry[], namespace: Entry): void {
  const name = stringAt(namespace.object, "metadata", "name");
  const contents = all.filter(
    (entry) => entry.type.namespaced && stringAt(entry.object, "metadata", "namespace") === name,
  );
  for (const entry of contents) {
    if (!isDeleting(entry.object))
      api.objects.delete(entry.type, name, String(objectAt(entry.object, "metadata")?.name));
  }
  if (contents.length > 0) return;
  const spec = objectAt(namespace.object, "spec");
  if (spec) spec.finalizers = [];
  api.objects.putInternal(namespace.type, namespace.object);
}

function finishCrd(api: InProcessApi, crd: Entry): void {
  const name = stringAt(crd.object, "metadata", "name");
  const served = api.types
    .all()
    .find((type) => type.crdName === name && type.version === type.storageVersion);
  const remaining = served ? api.objects.list(served, undefined) : [];
  for (const object of remaining) {
    if (served && !isDeleting(object))
      api.objects.delete(
        served,
        stringAt(object, "metadata", "namespace"),
        String(objectAt(object, "metadata")?.name),
      );
  }
  if (remaining.length === 0) api.objects.removeFinalizer(crd.type, crd.object, CRD_CLEANUP_FINALIZER);
}

/** Runs sweep() shortly after every change, the way informer-driven controllers react. */
export const garbageCollector: ControllerFactory = (api) => {
  let scheduled: NodeJS.Immediate | undefined;
  let stopped = false;
  const schedule = () => {
    if (scheduled || stopped) return;
    scheduled = setImmediate(() => {
      scheduled = undefined;
      if (stopped) return;
      try {
        sweep(api);
      } catch (error) {
        // A sweep racing another writer (object gone, conflict) tries again on the next change.
        if (!(error instanceof ApiError)) throw error;
      }
    });
  };
  const unsubscribe = api.storage.subscribe(schedule);
  return {
    stop() {
      stopped = true;
      unsubscribe();
      if (scheduled) clearImmediate(scheduled);
    },
  };
};
