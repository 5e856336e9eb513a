/**
 * Structural schemas (the OpenAPI v3 subset CRDs use) and what the API server
 * does with them on every write: drop unknown fields (reporting them, for
 * fieldValidation), apply defaults, then validate. Messages follow
 * kube-openapi's validator so clients print what a real cluster prints.
 */
import type { FieldError } from "./errors.js";
import { isObject, type Json, type JsonObject, jsonTypeName } from "./json.js";

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
}

export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: Json[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  uniqueItems?: boolean;
  nullable?: boolean;
  default?: Json;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: string;
  "x-kubernetes-validations"?: ValidationRule[];
  "x-kubernetes-patch-merge-key"?: string;
  "x-kubernetes-patch-strategy"?: string;
}

/** Evaluates x-kubernetes-validations at one node; supplied by cel.ts so this file stays about structure. */
export type RuleEvaluator = (
  rules: ValidationRule[],
  self: Json,
  oldSelf: Json | undefined,
  path: string,
  errors: FieldError[],
) => void;

const EMBEDDED_FIELDS: Record<string, Schema> = {
  apiVersion: { type: "string" },
  kind: { type: "string" },
  metadata: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
};

export function fieldPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

/** Properties a node declares, including the implicit ones of an embedded resource. */
function declaredProperties(schema: Schema): Record<string, Schema> | undefined {
  if (!schema.properties && !schema["x-kubernetes-embedded-resource"]) return undefined;
  return schema["x-kubernetes-embedded-resource"]
    ? { ...EMBEDDED_FIELDS, ...schema.properties }
    : schema.properties;
}

/**
 * Drops fields the schema does not declare (recording their paths) and nulls
 * that are not nullable, then fills defaults top-down. Returns the new value.
 */
export function pruneAndDefault(
  value: Json,
  schema: Schema,
  path: string,
  unknown: string[],
  withDefaults = true,
): Json {
  if (Array.isArray(value)) {
    const items = schema.items;
    if (!items) return value;
    return value.map((item, i) => pruneAndDefault(item, items, `${path}[${i}]`, unknown, withDefaults));
  }
  if (!isObject(value)) return value;
  const properties = declaredProperties(schema);
  const additional = schema.additionalProperties;
  const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const childSchema = properties?.[key] ?? (isObject(additional) ? (additional as Schema) : undefined);
    const childPath = properties?.[key] || !isObject(additional) ? fieldPath(path, key) : `${path}[${key}]`;
    if (!childSchema) {
      if (preserve || additional === true || (!properties && !isObject(additional) && !schema.type)) {
        out[key] = item;
      } else {
        unknown.push(childPath);
      }
      continue;
    }
    if (item === null && !childSchema.nullable && (childSchema.default === undefined || !withDefaults)) {
      // Kubernetes prunes non-nullable nulls before defaulting; a default then fills the hole.
      continue;
    }
    out[key] = pruneAndDefault(item, childSchema, childPath, unknown, withDefaults);
  }
  if (properties && withDefaults) {
    for (const [key, childSchema] of Object.entries(properties)) {
      if (
        (out[key] === undefined || (out[key] === null && !childSchema.nullable)) &&
        childSchema.default !== undefined
      ) {
        out[key] = pruneAndDefault(
          structuredClone(childSchema.default),
          childSchema,
          fieldPath(path, key),
          [],
        );
      }
    }
  }
  return out;
}

function quote(value: Json | undefined): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "null";
  if (isObject(value) || Array.isArray(value)) return JSON.stringify(value);
  return String(value);
}

function typeMatches(value: Json, schema: Schema): boolean {
  if (schema["x-kubernetes-int-or-string"]) {
    return typeof value === "string" || (typeof value === "number" && Number.isInteger(value));
  }
  switch (schema.type) {
    case undefined:
    case "":
      return true;
    case "object":
      return isObject(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "boolean":
      return typeof value === "boolean";
    default:
      return false;
  }
}

export interface ValidateContext {
  evaluateRules?: RuleEvaluator;
}

/** Validates a pruned and defaulted value; field errors are appended to `errors`. */
export function validateValue(
  value: Json,
  schema: Schema,
  path: string,
  errors: FieldError[],
  context: ValidateContext,
  oldValue?: Json,
): void {
  const at = path || "<root>";
  if (value === null) {
    if (!schema.nullable && schema.type) {
      errors.push({
        reason: "FieldValueTypeInvalid",
        field: at,
        detail: `Invalid value: "null": ${at} in body must be of type ${schema.type}: "null"`,
      });
    }
    return;
  }
  if (!typeMatches(value, schema)) {
    const expected = schema["x-kubernetes-int-or-string"] ? "integer,string" : schema.type;
    const actual = jsonTypeName(value);
    errors.push({
      reason: "FieldValueTypeInvalid",
      field: at,
      detail: `Invalid value: "${actual}": ${at} in body must be of type ${expected}: "${actual}"`,
    });
    return;
  }
  const before = errors.length;
  validateScalarConstraints(value, schema, at, errors);
  if (Array.isArray(value)) validateArray(value, schema, path, errors, context, oldValue);
  if (isObject(value)) validateObject(value, schema, path, errors, context, oldValue);
  for (const sub of schema.allOf ?? []) validateValue(value, sub, path, errors, context, oldValue);
  if (schema.anyOf && !schema.anyOf.some((sub) => isValid(value, sub, path, context))) {
    errors.push({
      reason: "FieldValueInvalid",
      field: at,
      detail: `Invalid value: ${quote(value)}: ${at} in body must match at least one schema (anyOf)`,
    });
  }
  if (schema.oneOf && schema.oneOf.filter((sub) => isValid(value, sub, path, context)).length !== 1) {
    errors.push({
      reason: "FieldValueInvalid",
      field: at,
      detail: `Invalid value: ${quote(value)}: ${at} in body must match exactly one schema in oneOf`,
    });
  }
  if (schema.not && isValid(value, schema.not, path, context)) {
    errors.push({
      reason: "FieldValueInvalid",
      field: at,
      detail: `Invalid value: ${quote(value)}: ${at} in body should not match the schema in not`,
    });
  }
  // Kubernetes runs CEL rules only on values that passed the structural checks.
  const rules = schema["x-kubernetes-validations"];
  if (rules && errors.length === before && context.evaluateRules) {
    context.evaluateRules(rules, value, oldValue, path, errors);
  }
}

function isValid(value: Json, schema: Schema, path: string, context: ValidateContext): boolean {
  const scratch: FieldError[] = [];
  validateValue(value, { ...schema, type: schema.type }, path, scratch, context);
  return scratch.length === 0;
}

function validateScalarConstraints(value: Json, schema: Schema, at: string, errors: FieldError[]): void {
  if (schema.enum && !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
    errors.push({
      reason: "FieldValueNotSupported",
      field: at,
      detail: `Unsupported value: ${quote(value)}: supported values: ${schema.enum.map(quote).join(", ")}`,
    });
  }
  if (typeof value === "string") {
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) {
      errors.push({
        reason: "FieldValueTooLong",
        field: at,
        detail: `Too long: may not be more than ${schema.maxLength} bytes`,
      });
    }
    if (schema.minLength !== undefined && [...value].length < schema.minLength) {
      errors.push({
        reason: "FieldValueInvalid",
        field: at,
        detail: `Invalid value: ${quote(value)}: ${at} in body should be at least ${schema.minLength} chars long`,
      });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push({
        reason: "FieldValueInvalid",
        field: at,
        detail: `Invalid value: ${quote(value)}: ${at} in body should match '${schema.pattern}'`,
      });
    }
  }
  if (typeof value === "number") {
    const { minimum, maximum, multipleOf } = schema;
    if (minimum !== undefined && (schema.exclusiveMinimum ? value <= minimum : value < minimum)) {
      const relation = schema.exclusiveMinimum ? "greater than" : "greater than or equal to";
      errors.push({
        reason: "FieldValueInvalid",
        field: at,
        detail: `Invalid value: ${value}: ${at} in body should be ${relation} ${minimum}`,
      });
    }
    if (maximum !== undefined && (schema.exclusiveMaximum ? value >= maximum : value > maximum)) {
      const relation = schema.exclusiveMaximum ? "less than" : "less than or equal to";
      errors.push({
        reason: "FieldValueInvalid",
        field: at,
        detail: `Invalid value: ${value}: ${at} in body should be ${relation} ${maximum}`,
      });
    }
    if (multipleOf !== undefined && Math.abs(value / multipleOf - Math.round(value / multipleOf)) > 1e-9) {
      errors.push({
        reason: "FieldValueInvalid",
        field: at,
        detail: `Invalid value: ${value}: ${at} in body should be a multiple of ${multipleOf}`,
      });
    }
  }
}

function validateArray(
  value: Json[],
  schema: Schema,
  path: string,
  errors: FieldError[],
  context: ValidateContext,
  oldValue?: Json,
): void {
  const at = path || "<root>";
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    errors.push({
      reason: "FieldValueInvalid",
      field: at,
      detail: `Invalid value: ${value.length}: ${at} in body should have at least ${schema.minItems} items`,
    });
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    errors.push({
      reason: "FieldValueTooMany",
      field: at,
      detail: `Too many: ${value.length}: must have at most ${schema.maxItems} items`,
    });
  }
  const listType = schema["x-kubernetes-list-type"];
  const seen = new Set<string>();
  value.forEach((item, i) => {
    let identity: string | undefined;
    if (listType === "set" || schema.uniqueItems) identity = JSON.stringify(item);
    if (listType === "map" && isObject(item)) {
      identity = JSON.stringify((schema["x-kubernetes-list-map-keys"] ?? []).map((key) => item[key] ?? null));
    }
    if (identity !== undefined) {
      if (seen.has(identity)) {
        errors.push({
          reason: "FieldValueDuplicate",
          field: `${path}[${i}]`,
          detail: `Duplicate value: ${quote(item)}`,
        });
      }
      seen.add(identity);
    }
  });
  const items = schema.items;
  if (!items) return;
  const oldItems = Array.isArray(oldValue) ? oldValue : undefined;
  value.forEach((item, i) => {
    // Transition rules compare list items only where they can be matched: by map keys, else not at all.
    let previous: Json | undefined;
    if (oldItems && listType === "map" && isObject(item)) {
      const keys = schema["x-kubernetes-list-map-keys"] ?? [];
      previous = oldItems.find(
        (old) => isObject(old) && keys.every((key) => JSON.stringify(old[key]) === JSON.stringify(item[key])),
      );
    }
    validateValue(item, items, `${path}[${i}]`, errors, context, previous);
  });
}

function validateObject(
  value: JsonObject,
  schema: Schema,
  path: string,
  errors: FieldError[],
  context: ValidateContext,
  oldValue?: Json,
): void {
  const at = path || "<root>";
  const old = isObject(oldValue) ? oldValue : undefined;
  for (const key of schema.required ?? []) {
    if (value[key] === undefined) {
      errors.push({ reason: "FieldValueRequired", field: fieldPath(path, key), detail: "Required value" });
    }
  }
  const count = Object.keys(value).length;
  if (schema.minProperties !== undefined && count < schema.minProperties) {
    errors.push({
      reason: "FieldValueInvalid",
      field: at,
      detail: `Invalid value: ${count}: ${at} in body should have at least ${schema.minProperties} properties`,
    });
  }
  if (schema.maxProperties !== undefined && count > schema.maxProperties) {
    errors.push({
      reason: "FieldValueTooMany",
      field: at,
      detail: `Too many: ${count}: must have at most ${schema.maxProperties} properties`,
    });
  }
  const properties = declaredProperties(schema);
  const additional = isObject(schema.additionalProperties)
    ? (schema.additionalProperties as Schema)
    : undefined;
  for (const [key, item] of Object.entries(value)) {
    const declared = properties?.[key];
    if (declared) validateValue(item, declared, fieldPath(path, key), errors, context, old?.[key]);
    else if (additional) validateValue(item, additional, `${path}[${key}]`, errors, context, old?.[key]);
  }
}
