/**
 * The checks between decoding and storing: unknown fields (dropped, and warned
 * about or refused per fieldValidation), defaults, structural validation, CEL
 * rules, and ObjectMeta rules. Built-ins and custom resources take the same
 * path; built-ins just get their schema from client-node's models.
 */
import { builtinModelSchema } from "./builtin-schemas.js";
import { evaluateCelRules } from "./crd.js";
import { ApiError, type FieldError, invalid } from "./errors.js";
import { isObject, type Json, type JsonObject, stringAt } from "./json.js";
import { validateMetadata } from "./metadata.js";
import type { ResourceType } from "./resource-types.js";
import { pruneAndDefault, type Schema, validateValue } from "./schema.js";

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export function parseFieldValidation(value: string | null): FieldValidation {
  if (value === null || value === "" || value === "Warn") return "Warn";
  if (value === "Strict" || value === "Ignore") return value;
  throw new ApiError(400, "BadRequest", `fieldValidation parameter unsupported: ${value}`);
}

const OBJECT_META: Schema = builtinModelSchema("V1ObjectMeta");

/** The schema a write is checked against: CRD schemas get apiVersion/kind/metadata implicitly. */
function bodySchema(type: ResourceType, subresource: string | undefined): Schema {
  const properties: Record<string, Schema> = {
    ...type.schema.properties,
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: OBJECT_META,
  };
  if (subresource === "status" && !properties.status)
    properties.status = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  return { ...type.schema, type: "object", properties };
}

export interface Admitted {
  object: JsonObject;
  warnings: string[];
}

/** Drops unknown fields only (no defaults): how an apply configuration is read before merging. */
export function pruneUnknown(
  type: ResourceType,
  object: JsonObject,
  fieldValidation: FieldValidation,
  subresource?: string,
): Admitted {
  const unknown: string[] = [];
  const pruned = pruneAndDefault(object, bodySchema(type, subresource), "", unknown, false) as JsonObject;
  return { object: pruned, warnings: unknownFieldWarnings(type, unknown, fieldValidation) };
}

function unknownFieldWarnings(
  type: ResourceType,
  unknown: string[],
  fieldValidation: FieldValidation,
): string[] {
  if (unknown.length > 0 && fieldValidation === "Strict") {
    const listed = unknown.map((path) => `unknown field "${path}"`);
    const prefix = `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}`;
    throw new ApiError(400, "BadRequest", `${prefix}: strict decoding error: ${listed.join(", ")}`);
  }
  return fieldValidation === "Warn" ? unknown.map((path) => `unknown field "${path}"`) : [];
}

/** Prunes and defaults `object`; throws 400 (Strict unknown fields, built-in type errors) or 422 (invalid). */
export function admit(
  type: ResourceType,
  object: JsonObject,
  old: JsonObject | undefined,
  fieldValidation: FieldValidation,
  subresource?: string,
): Admitted {
  const schema = bodySchema(type, subresource);
  const unknown: string[] = [];
  const pruned = pruneAndDefault(object, schema, "", unknown) as JsonObject;
  const warnings = unknownFieldWarnings(type, unknown, fieldValidation);

  const errors: FieldError[] = [];
  const metadata = isObject(pruned.metadata) ? pruned.metadata : {};
  const { metadata: _metadata, ...rest } = pruned;
  const oldRest = old
    ? Object.fromEntries(Object.entries(old).filter(([key]) => key !== "metadata"))
    : undefined;
  const restSchema: Schema = { ...schema, properties: { ...schema.properties } };
  delete restSchema.properties?.metadata;
  validateValue(
    rest,
    restSchema,
    "",
    errors,
    { evaluateRules: type.builtin ? undefined : evaluateCelRules },
    oldRest as Json | undefined,
  );
  validateValue(metadata, OBJECT_META, "metadata", errors, {});
  const name = stringAt(pruned, "metadata", "name") ?? "";
  if (name) errors.push(...validateMetadata(type, metadata));
  if (errors.length > 0) {
    if (type.builtin && errors.every((error) => error.reason === "FieldValueTypeInvalid")) {
      // Go's JSON decoder refuses wrong types for built-ins before validation ever runs.
      const first = errors[0];
      throw new ApiError(
        400,
        "BadRequest",
        `json: cannot unmarshal into Go struct field ${type.kind}.${first?.field ?? ""}: ${first?.detail ?? ""}`,
      );
    }
    throw invalid(type, name, errors);
  }
  return { object: pruned, warnings };
}
