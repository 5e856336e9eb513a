/**
 * What individual built-in kinds do beyond the generic flow: their defaults
 * (the ones clients visibly depend on), immutable fields and cross-field
 * checks. CRDs themselves are handled through crd.ts.
 */
import { CRD_CLEANUP_FINALIZER, defaultCrd, establishedStatus, validateCrd } from "./crd.js";
import type { FieldError } from "./errors.js";
import { child, deepEqual, isObject, type JsonObject, objectAt, stringMap } from "./json.js";
import type { ResourceType } from "./resource-types.js";

export interface KindContext {
  now: string;
  allocateClusterIp: () => string;
}

/** Kinds whose metadata.generation tracks spec changes (custom resources always do). */
export function tracksGeneration(type: ResourceType): boolean {
  return (
    !type.builtin ||
    [
      "Deployment",
      "StatefulSet",
      "PodDisruptionBudget",
      "HorizontalPodAutoscaler",
      "CustomResourceDefinition",
    ].includes(type.kind)
  );
}

function defaultWorkload(object: JsonObject, kind: string): void {
  const spec = child(object, "spec");
  if (spec.replicas === undefined) spec.replicas = 1;
  if (spec.revisionHistoryLimit === undefined) spec.revisionHistoryLimit = 10;
  if (kind === "Deployment") {
    if (spec.progressDeadlineSeconds === undefined) spec.progressDeadlineSeconds = 600;
    if (spec.strategy === undefined)
      spec.strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } };
  } else {
    if (spec.podManagementPolicy === undefined) spec.podManagementPolicy = "OrderedReady";
    if (spec.updateStrategy === undefined)
      spec.updateStrategy = { type: "RollingUpdate", rollingUpdate: { partition: 0 } };
  }
  const podSpec = objectAt(spec, "template", "spec");
  if (podSpec) defaultPodSpec(podSpec);
}

function defaultPodSpec(podSpec: JsonObject): void {
  if (podSpec.restartPolicy === undefined) podSpec.restartPolicy = "Always";
  if (podSpec.dnsPolicy === undefined) podSpec.dnsPolicy = "ClusterFirst";
  if (podSpec.terminationGracePeriodSeconds === undefined) podSpec.terminationGracePeriodSeconds = 30;
  if (podSpec.schedulerName === undefined) podSpec.schedulerName = "default-scheduler";
  for (const container of Array.isArray(podSpec.containers) ? podSpec.containers : []) {
    if (!isObject(container)) continue;
    if (container.imagePullPolicy === undefined) {
      const image = typeof container.image === "string" ? container.image : "";
      container.imagePullPolicy =
        image.endsWith(":latest") || !image.includes(":") ? "Always" : "IfNotPresent";
    }
    for (const port of Array.isArray(container.ports) ? container.ports : []) {
      if (isObject(port) && port.protocol === undefined) port.protocol = "TCP";
    }
  }
}

function validateWorkload(object: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const selector = objectAt(object, "spec", "selector");
  if (!selector) {
    errors.push({ reason: "FieldValueRequired", field: "spec.selector", detail: "Required value" });
    return errors;
  }
  const matchLabels = stringMap(selector.matchLabels);
  const templateLabels = stringMap(objectAt(object, "spec", "template", "metadata")?.labels);
  if (Object.entries(matchLabels).some(([key, value]) => templateLabels[key] !== value)) {
    errors.push({
      reason: "FieldValueInvalid",
      field: "spec.template.metadata.labels",
      detail: `Invalid value: ${JSON.stringify(templateLabels)}: \`selector\` does not match template \`labels\``,
    });
  }
  const oldSelector = old ? objectAt(old, "spec", "selector") : undefined;
  if (oldSelector && !deepEqual(oldSelector, selector)) {
    errors.push({
      reason: "FieldValueInvalid",
      field: "spec.selector",
      detail: `Invalid value: ${JSON.stringify(selector)}: field is immutable`,
    });
  }
  return errors;
}

function defaultService(object: JsonObject, old: JsonObject | undefined, context: KindContext): void {
  const spec = child(object, "spec");
  if (spec.type === undefined) spec.type = "ClusterIP";
  if (spec.sessionAffinity === undefined) spec.sessionAffinity = "None";
  if (spec.type !== "ExternalName") {
    if (spec.internalTrafficPolicy === undefined) spec.internalTrafficPolicy = "Cluster";
    const previous = old ? objectAt(old, "spec")?.clusterIP : undefined;
    if (spec.clusterIP === undefined || spec.clusterIP === "")
      spec.clusterIP = previous ?? context.allocateClusterIp();
    spec.clusterIPs = [spec.clusterIP];
    if (spec.ipFamilies === undefined) spec.ipFamilies = ["IPv4"];
    if (spec.ipFamilyPolicy === undefined) spec.ipFamilyPolicy = "SingleStack";
  }
  for (const port of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!isObject(port)) continue;
    if (port.protocol === undefined) port.protocol = "TCP";
    if (port.targetPort === undefined && port.port !== undefined) port.targetPort = port.port;
  }
  if (object.status === undefined) object.status = { loadBalancer: {} };
}

function defaultSecret(object: JsonObject): void {
  if (object.type === undefined) object.type = "Opaque";
  const stringData = object.stringData;
  if (isObject(stringData)) {
    const data = child(object, "data");
    for (const [key, value] of Object.entries(stringData))
      data[key] = Buffer.from(String(value)).toString("base64");
  }
  delete object.stringData;
}

/** Defaults a kind fills in on create and update (old is undefined on create). */
export function applyKindDefaults(
  type: ResourceType,
  object: JsonObject,
  old: JsonObject | undefined,
  context: KindContext,
): void {
  if (!type.builtin) return;
  switch (type.kind) {
    case "Namespace": {
      const spec = child(object, "spec");
      if (spec.finalizers === undefined) spec.finalizers = ["kubernetes"];
      if (!old) object.status = { phase: "Active" };
      break;
    }
    case "Service":
      defaultService(object, old, context);
      break;
    case "Secret":
      defaultSecret(object);
      break;
    case "Pod": {
      defaultPodSpec(child(object, "spec"));
      if (!old && !isObject(object.status)) object.status = { phase: "Pending", qosClass: "BestEffort" };
      break;
    }
    case "Deployment":
    case "StatefulSet":
      defaultWorkload(object, type.kind);
      break;
    case "CustomResourceDefinition": {
      defaultCrd(object);
      const metadata = child(object, "metadata");
      const finalizers = Array.isArray(metadata.finalizers) ? metadata.finalizers : [];
      if (!old && !finalizers.includes(CRD_CLEANUP_FINALIZER))
        metadata.finalizers = [...finalizers, CRD_CLEANUP_FINALIZER];
      object.status = establishedStatus(object, context.now, old ? objectAt(old, "status") : undefined);
      break;
    }
  }
}

export function validateKind(
  type: ResourceType,
  object: JsonObject,
  old: JsonObject | undefined,
): FieldError[] {
  if (!type.builtin) return [];
  switch (type.kind) {
    case "Deployment":
    case "StatefulSet":
      return validateWorkload(object, old);
    case "CustomResourceDefinition":
      return validateCrd(object);
    case "ConfigMap":
    case "Secret":
      if (
        old?.immutable === true &&
        (!deepEqual(old.data, object.data) || !deepEqual(old.binaryData, object.binaryData))
      ) {
        return [
          {
            reason: "FieldValueForbidden",
            field: "data",
            detail: "Forbidden: field is immutable when `immutable` is set",
          },
        ];
      }
      return [];
    default:
      return [];
  }
}
