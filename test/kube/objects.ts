/**
 * The generic REST semantics every kind shares: create, update, patch and
 * delete with resourceVersion preconditions, generation, finalizers and
 * deletionTimestamp, status as a subresource, dry-run and managedFields. HTTP
 * handlers and in-process controllers (garbage collector, namespace cleanup,
 * a future kubelet) both go through here, so they see the same rules.
 */
import { admit, type FieldValidation } from "./admission.js";
import { readManagedFields, recordUpdate, writeManagedFields } from "./apply.js";
import {
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  MODIFIED_SINCE,
  notFound,
} from "./errors.js";
import { child, deepEqual, type Json, type JsonObject, objectAt, stringAt, stringMap } from "./json.js";
import { applyKindDefaults, tracksGeneration, validateKind } from "./kinds.js";
import {
  type DeleteOptions,
  finalizersOf,
  namespaceFinalizersPending,
  planDeletion,
  specChanged,
  withoutVolatile,
} from "./lifecycle.js";
import { generatedName, newUid, nowTimestamp } from "./metadata.js";
import { patchObject } from "./patching.js";
import { namespacePolicy, podSecurityDecision, podSpecOf } from "./pod-security.js";
import { apiVersionOf, type ResourceType, resourceKey } from "./resource-types.js";
import type { Storage } from "./storage.js";
import type { TypeRegistry } from "./type-registry.js";

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  /** The endpoint recorded in managedFields when it is not the one written through ("scale"). */
  recordedSubresource?: string;
  fieldValidation?: FieldValidation;
  /** Warnings for the client (unknown fields), returned as Warning headers. */
  warnings?: string[];
}

export type PatchType = "json" | "merge" | "strategic" | "apply";

const NAMESPACES: Pick<ResourceType, "group" | "plural"> = { group: "", plural: "namespaces" };

export class ObjectService {
  private nextClusterIp = 10;

  constructor(
    readonly storage: Storage,
    readonly types: TypeRegistry,
    private readonly clock: () => number = Date.now,
  ) {}

  now(): string {
    return nowTimestamp(this.clock);
  }

  /** Objects are stored at the storage version; readers see the version they asked for. */
  private present(type: ResourceType, object: JsonObject): JsonObject {
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    return object;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): JsonObject {
    const found = this.storage.get(resourceKey(type), type.namespaced ? namespace : undefined, name);
    if (!found) throw notFound(type, name);
    return this.present(type, found);
  }

  find(type: ResourceType, namespace: string | undefined, name: string): JsonObject | undefined {
    const found = this.storage.get(resourceKey(type), type.namespaced ? namespace : undefined, name);
    return found ? this.present(type, found) : undefined;
  }

  list(type: ResourceType, namespace: string | undefined): JsonObject[] {
    return this.storage
      .list(resourceKey(type), type.namespaced ? namespace : undefined)
      .map((object) => this.present(type, object));
  }

  private checkNamespace(type: ResourceType, namespace: string | undefined, name: string): void {
    if (!type.namespaced) return;
    const namespaceObject = namespace
      ? this.storage.get(resourceKey(NAMESPACES), undefined, namespace)
      : undefined;
    if (!namespace || !namespaceObject) throw notFound(NAMESPACES, namespace ?? "");
    if (stringAt(namespaceObject, "metadata", "deletionTimestamp")) {
      throw forbidden(
        type,
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  /** Fills apiVersion/kind and checks the body's identity against the request's. */
  normalizeIdentity(type: ResourceType, body: JsonObject, namespace: string | undefined): JsonObject {
    const object = structuredClone(body);
    if (object.apiVersion !== undefined && object.apiVersion !== apiVersionOf(type)) {
      throw badRequest(
        `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersionOf(type)})`,
      );
    }
    if (object.kind !== undefined && object.kind !== type.kind) {
      throw badRequest(
        `the kind in the data (${String(object.kind)}) does not match the expected kind (${type.kind})`,
      );
    }
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    const metadata = child(object, "metadata");
    if (type.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== "" && metadata.namespace !== namespace) {
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      if (namespace !== undefined) metadata.namespace = namespace;
    } else delete metadata.namespace;
    return object;
  }

  create(
    type: ResourceType,
    namespace: string | undefined,
    body: JsonObject,
    options: WriteOptions = {},
    presetManagedFields = false,
  ): JsonObject {
    const object = this.normalizeIdentity(type, body, namespace);
    const metadata = child(object, "metadata");
    if (typeof metadata.name !== "string" || metadata.name === "") {
      if (typeof metadata.generateName === "string" && metadata.generateName !== "")
        metadata.name = generatedName(metadata.generateName);
      else
        throw invalid(type, "", [
          {
            reason: "FieldValueRequired",
            field: "metadata.name",
            detail: "Required value: name or generateName is required",
          },
        ]);
    }
    const name = String(metadata.name);
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== "") {
      throw badRequest("resourceVersion should not be set on objects to be created");
    }
    this.checkNamespace(type, namespace, name);
    if (this.storage.get(resourceKey(type), type.namespaced ? namespace : undefined, name))
      throw alreadyExists(type, name);
    for (const field of [
      "uid",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "generation",
      "selfLink",
    ])
      delete metadata[field];
    if (type.statusSubresource && type.kind !== "Namespace") delete object.status;
    const admitted = admit(type, object, undefined, options.fieldValidation ?? "Warn");
    options.warnings?.push(...admitted.warnings);
    const created = admitted.object;
    const createdMeta = child(created, "metadata");
    createdMeta.uid = newUid();
    createdMeta.creationTimestamp = this.now();
    if (tracksGeneration(type)) createdMeta.generation = 1;
    applyKindDefaults(type, created, undefined, this.kindContext());
    const errors = validateKind(type, created, undefined);
    if (errors.length > 0) throw invalid(type, name, errors);
    this.admitPodSecurity(type, namespace, created, options, true);
    if (!presetManagedFields) {
      const entries = recordUpdate(
        [],
        undefined,
        created,
        this.writeRecord(type, options.fieldManager ?? "unknown", undefined),
      );
      writeManagedFields(created, entries);
    }
    if (options.dryRun) return created;
    return this.present(type, this.storage.put(resourceKey(type), this.toStorage(type, created)));
  }

  /**
   * The PodSecurity admission plugin (pod-security.ts): a Pod created in a namespace whose
   * enforce level it breaks is refused; workloads with such a pod template, and anything breaking
   * the warn level, are admitted with a Warning. Pod updates are not checked (their spec is
   * almost all immutable, and the plugin exempts the mutable parts).
   */
  private admitPodSecurity(
    type: ResourceType,
    namespace: string | undefined,
    object: JsonObject,
    options: WriteOptions,
    creating: boolean,
  ): void {
    if (!type.namespaced || !namespace) return;
    const spec = podSpecOf(type.group, type.kind, object);
    if (!spec || (type.kind === "Pod" && type.group === "" && !creating)) return;
    const namespaceObject = this.storage.get(resourceKey(NAMESPACES), undefined, namespace);
    const policy = namespacePolicy(stringMap(objectAt(namespaceObject, "metadata")?.labels));
    const decision = podSecurityDecision(policy, spec, type.kind === "Pod" && type.group === "");
    if (decision.refusal) throw forbidden(type, stringAt(object, "metadata", "name") ?? "", decision.refusal);
    options.warnings?.push(...decision.warnings);
  }

  private toStorage(type: ResourceType, object: JsonObject): JsonObject {
    return {
      ...object,
      apiVersion: type.group ? `${type.group}/${type.storageVersion}` : type.storageVersion,
    };
  }

  private kindContext() {
    return {
      now: this.now(),
      allocateClusterIp: () => {
        this.nextClusterIp += 1;
        return `10.96.${Math.floor(this.nextClusterIp / 250)}.${(this.nextClusterIp % 250) + 1}`;
      },
    };
  }

  writeRecord(type: ResourceType, manager: string, subresource: string | undefined) {
    return {
      manager,
      apiVersion: apiVersionOf(type),
      statusSubresource: type.statusSubresource,
      schema: type.schema,
      now: this.now(),
      ...(subresource ? { subresource } : {}),
    };
  }

  /** PUT: replaces the object (or, for subresource "status", only its status). */
  update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: JsonObject,
    options: WriteOptions = {},
    subresource?: string,
  ): JsonObject {
    const existing = this.get(type, namespace, name);
    const incoming = this.normalizeIdentity(type, body, namespace);
    const incomingMeta = child(incoming, "metadata");
    if (incomingMeta.name !== undefined && incomingMeta.name !== name) {
      throw badRequest(
        `the name of the object (${String(incomingMeta.name)}) does not match the name on the URL (${name})`,
      );
    }
    const requested = incomingMeta.resourceVersion;
    if (requested === undefined || requested === "") {
      if (!type.builtin) {
        throw invalid(type, name, [
          {
            reason: "FieldValueInvalid",
            field: "metadata.resourceVersion",
            detail: "Invalid value: 0x0: must be specified for an update",
          },
        ]);
      }
    } else if (requested !== stringAt(existing, "metadata", "resourceVersion")) {
      throw conflict(type, name, MODIFIED_SINCE);
    }
    return this.commit(type, existing, incoming, options, subresource, undefined);
  }

  /**
   * The shared tail of update and patch: merge per subresource rules, admit,
   * bump generation, record managed fields, skip no-ops, store (or finish a
   * deletion whose last finalizer just went).
   */
  commit(
    type: ResourceType,
    existing: JsonObject,
    incoming: JsonObject,
    options: WriteOptions,
    subresource: string | undefined,
    appliedManagedFields: Json | undefined,
  ): JsonObject {
    const name = String(objectAt(existing, "metadata")?.name);
    let candidate: JsonObject;
    if (subresource === "status") {
      candidate = structuredClone(existing);
      if (incoming.status === undefined) delete candidate.status;
      else candidate.status = structuredClone(incoming.status);
    } else {
      candidate = structuredClone(incoming);
      if (type.statusSubresource) {
        if (existing.status === undefined) delete candidate.status;
        else candidate.status = structuredClone(existing.status);
      }
    }
    const metadata = child(candidate, "metadata");
    const oldMeta = child(existing, "metadata");
    if (subresource === "status") {
      // Writes to /status change nothing but status, metadata included.
      candidate.metadata = structuredClone(oldMeta);
    }
    for (const field of [
      "uid",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "generation",
      "namespace",
      "name",
      "resourceVersion",
    ]) {
      if (oldMeta[field] === undefined) delete metadata[field];
      else metadata[field] = structuredClone(oldMeta[field] as Json);
    }
    const userManagedFields = objectAt(incoming, "metadata")?.managedFields;
    const admitted = admit(type, candidate, existing, options.fieldValidation ?? "Warn", subresource);
    options.warnings?.push(...admitted.warnings);
    const updated = admitted.object;
    applyKindDefaults(type, updated, existing, this.kindContext());
    const errors = validateKind(type, updated, existing);
    const deleting = typeof oldMeta.deletionTimestamp === "string";
    const newFinalizers = finalizersOf(updated).filter(
      (finalizer) => !finalizersOf(existing).includes(finalizer),
    );
    if (deleting && newFinalizers.length > 0) {
      errors.push({
        reason: "FieldValueForbidden",
        field: "metadata.finalizers",
        detail: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${newFinalizers.map((f) => JSON.stringify(f)).join(", ")}}`,
      });
    }
    if (errors.length > 0) throw invalid(type, name, errors);
    if (subresource === undefined)
      this.admitPodSecurity(type, stringAt(existing, "metadata", "namespace"), updated, options, false);
    const updatedMeta = child(updated, "metadata");
    if (tracksGeneration(type) && specChanged(existing, updated))
      updatedMeta.generation = Number(oldMeta.generation ?? 0) + 1;

    let entries = readManagedFields(existing);
    if (appliedManagedFields !== undefined) {
      updatedMeta.managedFields = structuredClone(appliedManagedFields);
    } else {
      const userProvided =
        Array.isArray(userManagedFields) &&
        userManagedFields.length > 0 &&
        !deepEqual(userManagedFields, oldMeta.managedFields);
      if (userProvided) entries = readManagedFields(incoming);
      const recordAs = options.recordedSubresource ?? subresource;
      writeManagedFields(
        updated,
        recordUpdate(
          entries,
          existing,
          updated,
          this.writeRecord(type, options.fieldManager ?? "unknown", recordAs),
        ),
      );
    }
    if (withoutVolatile(updated, type) === withoutVolatile(existing, type)) return existing;
    if (options.dryRun) return updated;
    if (deleting && finalizersOf(updated).length === 0 && !namespaceFinalizersPending(type, updated)) {
      return this.removeNow(type, updated);
    }
    return this.present(type, this.storage.put(resourceKey(type), this.toStorage(type, updated)));
  }

  patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    body: string,
    options: WriteOptions & { force?: boolean },
    subresource?: string,
  ): JsonObject {
    return patchObject(this, type, namespace, name, patchType, body, options, subresource);
  }

  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): JsonObject {
    const existing = this.get(type, namespace, name);
    const plan = planDeletion(type, existing, options, this.now());
    if (plan.action === "already-deleting" || options.dryRun) return plan.object;
    if (plan.action === "remove") return this.removeNow(type, existing);
    return this.present(type, this.storage.put(resourceKey(type), this.toStorage(type, plan.object)));
  }

  private removeNow(type: ResourceType, object: JsonObject): JsonObject {
    const removed = this.storage.remove(
      resourceKey(type),
      type.namespaced ? stringAt(object, "metadata", "namespace") : undefined,
      String(objectAt(object, "metadata")?.name),
    );
    if (!removed) throw notFound(type, String(objectAt(object, "metadata")?.name));
    return this.present(type, removed);
  }

  /** Server-internal finalizer bookkeeping (GC, namespace and CRD cleanup). */
  removeFinalizer(type: ResourceType, object: JsonObject, finalizer: string): void {
    const current = this.find(
      type,
      stringAt(object, "metadata", "namespace"),
      String(objectAt(object, "metadata")?.name),
    );
    if (!current) return;
    const metadata = child(current, "metadata");
    metadata.finalizers = finalizersOf(current).filter((item) => item !== finalizer);
    if ((metadata.finalizers as Json[]).length === 0) delete metadata.finalizers;
    if (
      typeof metadata.deletionTimestamp === "string" &&
      finalizersOf(current).length === 0 &&
      !namespaceFinalizersPending(type, current)
    ) {
      this.removeNow(type, current);
      return;
    }
    this.storage.put(resourceKey(type), this.toStorage(type, current));
  }

  /** Replaces an object as the server itself would (no admission): used by controllers for status-like bookkeeping. */
  putInternal(type: ResourceType, object: JsonObject): JsonObject {
    if (
      finalizersOf(object).length === 0 &&
      stringAt(object, "metadata", "deletionTimestamp") &&
      !namespaceFinalizersPending(type, object)
    ) {
      return this.removeNow(type, object);
    }
    return this.present(type, this.storage.put(resourceKey(type), this.toStorage(type, object)));
  }
}
