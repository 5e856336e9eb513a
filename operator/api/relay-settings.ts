/**
 * spec.relay of a RelayPool: the relay settings that belong to a pool, under
 * the names relay.yaml uses. The CRD schema is generated from the relay's own
 * zod schema (relay/config/schema.ts) minus the keys the operator sets itself,
 * so a key added to the relay config appears here on the next
 * `npx tsx operator/api/write-crds.ts`, and a bound changed there changes
 * here: the two cannot drift (test/operator/crds.test.ts checks the files).
 * This is the one module of the operator that imports relay/config.
 */
import { z } from "zod";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { type JsonSchema, Schema } from "./schema.js";

/**
 * Keys the operator renders from other spec fields or owns outright (listeners, paths, secrets,
 * the Store, routing, the shutdown hand-off); spec.relay cannot set them. Accounts and routes live
 * in the Store (HTTP API, SenderRoutes), not in a pool's config.
 */
export const OPERATOR_OWNED_KEYS = [
  "hostname",
  "listen",
  "tls",
  "dataDir",
  "store",
  "trackingBaseUrl",
  "secretFile",
  "trackingSecret",
  "apiToken",
  "mode",
  "shutdown",
  "routes",
  "defaultRoute",
  "accounts",
] as const;

/**
 * The object's fields without `keys`. Built from `.shape`, not `.omit()`: zod refuses `.omit()` on
 * an object that carries refinements (a cross-field check of the relay config, say).
 */
function fieldsWithout<S extends Record<string, z.ZodType>, K extends keyof S>(
  shape: S,
  keys: readonly K[],
): Omit<S, K> {
  const drop = new Set<PropertyKey>(keys);
  return Object.fromEntries(Object.entries(shape).filter(([key]) => !drop.has(key))) as Omit<S, K>;
}

/**
 * intake.proxyProtocolFrom follows spec.clientIp; intake.insecureAuth and
 * intake.plainAuthOnLoopback (AUTH without TLS) have no place in a fleet that takes mail from
 * other networks: the operator renders both off.
 */
const poolIntakeSchema = z.strictObject(
  fieldsWithout(relayConfigSchema.shape.intake.unwrap().shape, [
    "proxyProtocolFrom",
    "insecureAuth",
    "plainAuthOnLoopback",
  ]),
);

export const poolRelaySettingsSchema = z.strictObject({
  ...fieldsWithout(relayConfigSchema.shape, OPERATOR_OWNED_KEYS),
  intake: poolIntakeSchema.optional(),
});

/** What a user writes under spec.relay (every key optional; the relay fills its defaults). */
export type PoolRelaySettings = z.input<typeof poolRelaySettingsSchema>;

/** Kubernetes' string formats (apiextensions validation); others are dropped, their pattern kept. */
const KUBERNETES_FORMATS = new Set(["uri", "email", "hostname", "ipv4", "ipv6", "cidr", "date-time", "uuid"]);

/** Bounds zod adds to every .int() (JavaScript's safe integers): no limit a user would read. */
const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/**
 * A JSON Schema (draft 2020-12, as z.toJSONSchema prints it) as a Kubernetes structural schema:
 * a type on every node, no $ref or combinators, no `additionalProperties: false` (the API server
 * prunes unknown fields, and refuses them under strict field validation, kubectl's default), no
 * defaults (the relay applies its own, so a pool that sets nothing follows the relay's). Patterns
 * must be RE2 (Go's regexp): lookarounds and backreferences are refused here, at generation.
 * Anything it cannot express throws, naming the field, so a new relay key never goes unchecked.
 */
export function toStructuralSchema(node: JsonSchema, path: string): JsonSchema {
  const unsupported = ["$ref", "anyOf", "oneOf", "allOf", "not", "if", "patternProperties", "prefixItems"];
  for (const key of unsupported)
    if (key in node) throw new Error(`${path}: "${key}" has no Kubernetes structural-schema form`);
  const out: JsonSchema = {};
  if (typeof node.description === "string") out.description = node.description;
  if ("const" in node) {
    out.type = typeof node.const;
    out.enum = [node.const];
    return out;
  }
  const type = node.type;
  if (typeof type !== "string")
    throw new Error(`${path}: needs exactly one type (found ${JSON.stringify(type)})`);
  out.type = type;
  if (Array.isArray(node.enum)) out.enum = node.enum;
  switch (type) {
    case "object": {
      const properties = (node.properties ?? {}) as Record<string, JsonSchema>;
      const additional = node.additionalProperties;
      if (Object.keys(properties).length > 0)
        out.properties = Object.fromEntries(
          Object.entries(properties).map(([name, child]) => [
            name,
            toStructuralSchema(child, `${path}.${name}`),
          ]),
        );
      else if (additional !== undefined && typeof additional === "object")
        out.additionalProperties = toStructuralSchema(additional as JsonSchema, `${path}.*`);
      if (Array.isArray(node.required) && node.required.length > 0) out.required = node.required;
      break;
    }
    case "array":
      if (typeof node.items !== "object" || node.items === null)
        throw new Error(`${path}: an array needs items`);
      out.items = toStructuralSchema(node.items as JsonSchema, `${path}[]`);
      for (const key of ["minItems", "maxItems"]) if (typeof node[key] === "number") out[key] = node[key];
      break;
    case "string": {
      const pattern = node.pattern;
      if (typeof pattern === "string") {
        if (/\(\?<?[=!]|\\[1-9]/.test(pattern)) throw new Error(`${path}: pattern ${pattern} is not RE2`);
        out.pattern = pattern;
      }
      if (typeof node.format === "string" && KUBERNETES_FORMATS.has(node.format)) out.format = node.format;
      for (const key of ["minLength", "maxLength"]) if (typeof node[key] === "number") out[key] = node[key];
      break;
    }
    case "integer":
    case "number":
      for (const key of ["minimum", "maximum"] as const) {
        const bound = node[key];
        if (typeof bound === "number" && !SAFE_INTEGER_BOUNDS.has(bound)) out[key] = bound;
      }
      // Draft 2020-12 gives the exclusive bound as a number; OpenAPI v3 as a flag beside the bound.
      if (typeof node.exclusiveMinimum === "number") {
        out.minimum = node.exclusiveMinimum;
        out.exclusiveMinimum = true;
      }
      if (typeof node.exclusiveMaximum === "number") {
        out.maximum = node.exclusiveMaximum;
        out.exclusiveMaximum = true;
      }
      break;
    case "boolean":
      break;
    default:
      throw new Error(`${path}: type ${type} has no Kubernetes form`);
  }
  return out;
}

export function poolRelaySettingsOpenApi(): JsonSchema {
  const json = z.toJSONSchema(poolRelaySettingsSchema, {
    io: "input",
    unrepresentable: "throw",
  }) as JsonSchema;
  return toStructuralSchema(json, "spec.relay");
}

export const poolRelaySettings = new Schema<PoolRelaySettings>(poolRelaySettingsOpenApi()).describe(
  "Relay settings of every relay of the pool, named as in relay.yaml (docs/configuration.md); the relay's defaults apply to what is left out. Keys the operator sets (listen, tls, dataDir, store, shutdown, defaultRoute, ...) are not here.",
);

/**
 * What the CRD schema cannot say (refinements such as "an IP address or CIDR range"), checked
 * with the relay's own schema before a config reaches the relays: each problem names its field.
 */
export function relaySettingsProblems(settings: unknown): string[] {
  const parsed = poolRelaySettingsSchema.safeParse(settings ?? {});
  if (parsed.success) return [];
  return parsed.error.issues.map(
    (issue) => `${fieldPath(["spec", "relay", ...issue.path])}: ${issue.message}`,
  );
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}
