/**
 * A small builder for OpenAPI v3 structural schemas that also carries the
 * TypeScript type of what it describes. The CRD YAML in crds/ and the types
 * the operator reads come from the same builder calls (operator/api/*.ts),
 * so they cannot drift apart; test/operator/crds.test.ts checks the files in
 * crds/ are what these builders print.
 *
 * Presence: a field is typed as always present when it is `required()` or
 * has a `default()` (the API server fills defaults before the operator ever
 * reads the object); every other field is optional.
 */

export type JsonSchema = { [key: string]: unknown };

export type Presence = "present" | "optional";

export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath relative to the schema's node, so the error names the offending field. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

export class Schema<T, P extends Presence = "optional"> {
  /** Only for inference; never set. */
  declare readonly _type: T;
  declare readonly _presence: P;

  constructor(
    readonly openapi: JsonSchema,
    readonly isRequired = false,
  ) {}

  required(): Schema<T, "present"> {
    return new Schema<T, "present">(this.openapi, true);
  }

  default(value: T): Schema<T, "present"> {
    return new Schema<T, "present">({ ...this.openapi, default: value }, this.isRequired);
  }

  describe(description: string): Schema<T, P> {
    return new Schema<T, P>({ description, ...this.openapi }, this.isRequired);
  }

  validate(...rules: CelRule[]): Schema<T, P> {
    const existing = (this.openapi["x-kubernetes-validations"] as CelRule[] | undefined) ?? [];
    return new Schema<T, P>(
      { ...this.openapi, "x-kubernetes-validations": [...existing, ...rules] },
      this.isRequired,
    );
  }
}

// biome-ignore lint/suspicious/noExplicitAny: the constraint of a type-level helper, never a value
type AnySchema = Schema<any, Presence>;
export type Infer<S> = S extends Schema<infer T, Presence> ? T : never;
type Props = Record<string, AnySchema>;
type Flatten<T> = { [K in keyof T]: T[K] };
export type ObjectOf<P extends Props> = Flatten<
  { [K in keyof P as P[K] extends Schema<unknown, "present"> ? K : never]: Infer<P[K]> } & {
    [K in keyof P as P[K] extends Schema<unknown, "present"> ? never : K]?: Infer<P[K]>;
  }
>;

interface StringOptions {
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  format?: "date-time" | "uri";
}

export function string(options: StringOptions = {}): Schema<string> {
  return new Schema({ type: "string", ...options });
}

export function oneOf<const V extends readonly string[]>(values: V): Schema<V[number]> {
  return new Schema({ type: "string", enum: [...values] });
}

export function integer(options: { minimum?: number; maximum?: number } = {}): Schema<number> {
  return new Schema({ type: "integer", format: "int32", ...options });
}

export function number(options: { minimum?: number; maximum?: number } = {}): Schema<number> {
  return new Schema({ type: "number", ...options });
}

export function boolean(): Schema<boolean> {
  return new Schema({ type: "boolean" });
}

export function array<S extends AnySchema>(
  items: S,
  options: {
    minItems?: number;
    maxItems?: number;
    listType?: "atomic" | "set" | "map";
    mapKeys?: string[];
  } = {},
): Schema<Infer<S>[]> {
  const { listType, mapKeys, ...bounds } = options;
  return new Schema({
    type: "array",
    items: items.openapi,
    ...bounds,
    ...(listType ? { "x-kubernetes-list-type": listType } : {}),
    ...(mapKeys ? { "x-kubernetes-list-map-keys": mapKeys } : {}),
  });
}

export function object<P extends Props>(properties: P): Schema<ObjectOf<P>> {
  const required = Object.entries(properties)
    .filter(([, schema]) => schema.isRequired)
    .map(([name]) => name);
  return new Schema({
    type: "object",
    ...(required.length > 0 ? { required } : {}),
    properties: Object.fromEntries(Object.entries(properties).map(([name, s]) => [name, s.openapi])),
  });
}

/** A map with string keys (labels, annotations, node selectors). */
export function stringMap(): Schema<Record<string, string>> {
  return new Schema({ type: "object", additionalProperties: { type: "string" } });
}

/** A Kubernetes type the operator passes through without reading (resources, tolerations). */
export function opaque<T>(type: "object" | "array"): Schema<T> {
  return new Schema(
    type === "object"
      ? { type: "object", "x-kubernetes-preserve-unknown-fields": true }
      : { type: "array", items: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
  );
}

/** metav1.Condition, as `kubectl wait --for=condition=Ready` expects it. */
export const conditionSchema = object({
  type: string({ maxLength: 316 }).required(),
  status: oneOf(["True", "False", "Unknown"] as const).required(),
  observedGeneration: integer({ minimum: 0 }),
  lastTransitionTime: string({ format: "date-time" }).required(),
  reason: string({ maxLength: 1024, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" }).required(),
  message: string({ maxLength: 32768 }).required(),
});
export type Condition = Infer<typeof conditionSchema>;

export const conditionsSchema = array(conditionSchema, {
  maxItems: 16,
  listType: "map",
  mapKeys: ["type"],
});
