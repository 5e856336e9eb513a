/**
 * CustomResourceDefinitions: what the server checks and defaults on a CRD,
 * the resource types an established CRD serves, and the CEL rule evaluator its
 * schemas use.
 */
import { CelError, compileRule, evaluateRule, usesOldSelf } from "./cel.js";
import type { FieldError } from "./errors.js";
import { isObject, type Json, type JsonObject, jsonTypeName, objectAt, stringAt } from "./json.js";
import { ALL_VERBS, type PrinterColumn, type ResourceType, type ScaleSubresource } from "./resource-types.js";
import type { RuleEvaluator, Schema, ValidationRule } from "./schema.js";

export const CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io";

function versionsOf(crd: JsonObject): JsonObject[] {
  const versions = objectAt(crd, "spec")?.versions;
  return Array.isArray(versions) ? versions.filter(isObject) : [];
}

/** The defaults kube-apiserver fills into a CRD's spec (names.singular, listKind, conversion). */
export function defaultCrd(crd: JsonObject): void {
  const spec = objectAt(crd, "spec");
  const names = objectAt(crd, "spec", "names");
  if (!spec || !names) return;
  const kind = typeof names.kind === "string" ? names.kind : "";
  if (names.singular === undefined) names.singular = kind.toLowerCase();
  if (names.listKind === undefined) names.listKind = `${kind}List`;
  if (spec.conversion === undefined) spec.conversion = { strategy: "None" };
  for (const version of versionsOf(crd)) {
    for (const column of Array.isArray(version.additionalPrinterColumns)
      ? version.additionalPrinterColumns
      : []) {
      if (isObject(column) && column.priority === undefined) column.priority = 0;
    }
  }
}

function walkRules(
  schema: Json | undefined,
  path: string,
  visit: (rule: ValidationRule, path: string) => void,
): void {
  if (!isObject(schema)) return;
  const rules = schema["x-kubernetes-validations"];
  if (Array.isArray(rules)) {
    rules.forEach((rule, i) => {
      if (isObject(rule) && typeof rule.rule === "string") {
        visit(rule as unknown as ValidationRule, `${path}.x-kubernetes-validations[${i}].rule`);
      }
    });
  }
  const properties = objectAt(schema, "properties");
  for (const [key, child] of Object.entries(properties ?? {}))
    walkRules(child, `${path}.properties[${key}]`, visit);
  walkRules(schema.items, `${path}.items`, visit);
  walkRules(schema.additionalProperties, `${path}.additionalProperties`, visit);
}

export function validateCrd(crd: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const group = stringAt(crd, "spec", "group") ?? "";
  const plural = stringAt(crd, "spec", "names", "plural") ?? "";
  const kind = stringAt(crd, "spec", "names", "kind") ?? "";
  const name = stringAt(crd, "metadata", "name") ?? "";
  if (!group) errors.push({ reason: "FieldValueRequired", field: "spec.group", detail: "Required value" });
  if (!plural)
    errors.push({ reason: "FieldValueRequired", field: "spec.names.plural", detail: "Required value" });
  if (!kind)
    errors.push({ reason: "FieldValueRequired", field: "spec.names.kind", detail: "Required value" });
  if (name !== `${plural}.${group}`) {
    errors.push({
      reason: "FieldValueInvalid",
      field: "metadata.name",
      detail: `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`,
    });
  }
  const scope = stringAt(crd, "spec", "scope");
  if (scope !== "Namespaced" && scope !== "Cluster") {
    errors.push({
      reason: "FieldValueNotSupported",
      field: "spec.scope",
      detail: `Unsupported value: "${scope ?? ""}": supported values: "Cluster", "Namespaced"`,
    });
  }
  const versions = versionsOf(crd);
  if (versions.length === 0)
    errors.push({
      reason: "FieldValueInvalid",
      field: "spec.versions",
      detail: "Invalid value: null: must have exactly one version marked as storage version",
    });
  else if (versions.filter((version) => version.storage === true).length !== 1) {
    errors.push({
      reason: "FieldValueInvalid",
      field: "spec.versions",
      detail:
        "Invalid value: []apiextensions.CustomResourceDefinitionVersion(nil): must have exactly one version marked as storage version",
    });
  }
  versions.forEach((version, i) => {
    const schema = objectAt(version, "schema", "openAPIV3Schema");
    if (!schema) {
      errors.push({
        reason: "FieldValueRequired",
        field: `spec.versions[${i}].schema.openAPIV3Schema`,
        detail: "Required value: schemas are required",
      });
      return;
    }
    if (schema.type !== "object") {
      errors.push({
        reason: "FieldValueRequired",
        field: `spec.versions[${i}].schema.openAPIV3Schema.type`,
        detail: "Required value: must not be empty at the root",
      });
    }
    walkRules(schema, `spec.versions[${i}].schema.openAPIV3Schema`, (rule, path) => {
      try {
        compileRule(rule.rule);
      } catch (error) {
        if (!(error instanceof CelError)) throw error;
        errors.push({
          reason: "FieldValueInvalid",
          field: path,
          detail: `Invalid value: ${JSON.stringify(rule.rule)}: compilation failed: ERROR: <input>: ${error.message} (relayfleet's test API server evaluates a CEL subset: see test/kube/cel.ts)`,
        });
      }
    });
  });
  return errors;
}

/** status.acceptedNames and the NamesAccepted/Established conditions, set as soon as the CRD is stored. */
export function establishedStatus(
  crd: JsonObject,
  now: string,
  previous: JsonObject | undefined,
): JsonObject {
  const storage = versionsOf(crd).find((version) => version.storage === true);
  const stored = Array.isArray(previous?.storedVersions)
    ? previous.storedVersions.filter((v): v is string => typeof v === "string")
    : [];
  const storageName = typeof storage?.name === "string" ? storage.name : "";
  const condition = (type: string, reason: string, message: string): JsonObject => ({
    type,
    status: "True",
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    acceptedNames: objectAt(crd, "spec", "names") ?? {},
    conditions: [
      condition("NamesAccepted", "NoConflicts", "no conflicts found"),
      condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ],
    storedVersions: stored.includes(storageName) ? stored : [...stored, storageName],
  };
}

function scaleOf(version: JsonObject): ScaleSubresource | undefined {
  const scale = objectAt(version, "subresources", "scale");
  if (!scale) return undefined;
  return {
    specReplicasPath: String(scale.specReplicasPath ?? ".spec.replicas"),
    statusReplicasPath: String(scale.statusReplicasPath ?? ".status.replicas"),
    ...(typeof scale.labelSelectorPath === "string" ? { labelSelectorPath: scale.labelSelectorPath } : {}),
  };
}

function printerColumnsOf(version: JsonObject): PrinterColumn[] {
  const columns = Array.isArray(version.additionalPrinterColumns)
    ? version.additionalPrinterColumns.filter(isObject)
    : [];
  if (columns.length === 0) return [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }];
  return columns.map((column) => ({
    name: String(column.name),
    type: String(column.type ?? "string"),
    jsonPath: String(column.jsonPath ?? ""),
    ...(typeof column.description === "string" ? { description: column.description } : {}),
    ...(typeof column.format === "string" ? { format: column.format } : {}),
    priority: typeof column.priority === "number" ? column.priority : 0,
  }));
}

/** The resource types an established CRD serves, one per served version. */
export function typesFromCrd(crd: JsonObject): ResourceType[] {
  const names = objectAt(crd, "spec", "names") ?? {};
  const kind = String(names.kind ?? "");
  const versions = versionsOf(crd);
  const storageVersion = String(versions.find((version) => version.storage === true)?.name ?? "");
  const stringList = (value: Json | undefined) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  return versions
    .filter((version) => version.served !== false)
    .map((version) => {
      const scale = scaleOf(version);
      return {
        group: stringAt(crd, "spec", "group") ?? "",
        version: String(version.name),
        kind,
        listKind: String(names.listKind ?? `${kind}List`),
        plural: String(names.plural ?? ""),
        singular: String(names.singular ?? kind.toLowerCase()),
        namespaced: stringAt(crd, "spec", "scope") === "Namespaced",
        shortNames: stringList(names.shortNames),
        categories: stringList(names.categories),
        verbs: ALL_VERBS,
        statusSubresource: objectAt(version, "subresources", "status") !== undefined,
        ...(scale ? { scale } : {}),
        printerColumns: printerColumnsOf(version),
        schema: (objectAt(version, "schema", "openAPIV3Schema") ?? { type: "object" }) as Schema,
        crdName: stringAt(crd, "metadata", "name") ?? "",
        storageVersion,
        builtin: false,
        selectableFields: (Array.isArray(version.selectableFields)
          ? version.selectableFields.filter(isObject)
          : []
        ).map((field) => String(field.jsonPath ?? "").replace(/^\./, "")),
      };
    });
}

const compiled = new Map<string, ReturnType<typeof compileRule>>();

function compiledRule(rule: string): ReturnType<typeof compileRule> {
  let node = compiled.get(rule);
  if (!node) {
    node = compileRule(rule);
    compiled.set(rule, node);
  }
  return node;
}

/** Runs x-kubernetes-validations; transition rules (oldSelf) only when there is an old value. */
export const evaluateCelRules: RuleEvaluator = (rules, self, oldSelf, path, errors) => {
  for (const rule of rules) {
    const node = compiledRule(rule.rule);
    if (usesOldSelf(node) && oldSelf === undefined) continue;
    const field = rule.fieldPath ? `${path}${rule.fieldPath}` : path || "<root>";
    const shown = `"${jsonTypeName(self)}"`;
    let outcome: Json;
    try {
      outcome = evaluateRule(node, self, oldSelf);
    } catch (error) {
      if (!(error instanceof CelError)) throw error;
      errors.push({
        reason: "FieldValueInvalid",
        field,
        detail: `Invalid value: ${shown}: ${error.message} evaluating rule: ${rule.rule}`,
      });
      continue;
    }
    if (outcome === true) continue;
    const message = rule.message ?? `failed rule: ${rule.rule}`;
    if (rule.reason === "FieldValueForbidden")
      errors.push({ reason: rule.reason, field, detail: `Forbidden: ${message}` });
    else if (rule.reason === "FieldValueRequired")
      errors.push({ reason: rule.reason, field, detail: `Required value: ${message}` });
    else
      errors.push({
        reason: rule.reason ?? "FieldValueInvalid",
        field,
        detail: `Invalid value: ${shown}: ${message}`,
      });
  }
};
