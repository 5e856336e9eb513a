/**
 * The OpenAPI 3.1 document served at /v1/openapi.json, generated from the endpoint
 * table and its zod schemas (JSON Schema 2020-12, which OpenAPI 3.1 uses).
 */
import { type ZodType, z } from "zod";
import type { Access, Endpoint } from "./endpoint.js";
import { errorBodySchema } from "./schemas.js";

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  return rest;
}

/** "/v1/accounts/:name" → "/v1/accounts/{name}" */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z]+)/g, "{$1}");
}

const ACCESS_TEXT: Record<Access, string> = {
  public: "anyone, no token",
  fleet: "the admin token",
  admin: "the admin token",
  account: "the admin token or this account's API key",
  caller: "the admin token or the owning account's API key",
};

const ERROR_RESPONSE = (description: string) => ({
  description,
  content: { "application/json": { schema: jsonSchema(errorBodySchema, "output") } },
});

function queryParameters(endpoint: Endpoint): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  if (endpoint.querySchema) {
    const schema = jsonSchema(endpoint.querySchema, "input");
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries(properties)) {
      parameters.push({ name, in: "query", required: required.has(name), schema: property });
    }
  }
  if (endpoint.response.table) {
    parameters.push({
      name: "format",
      in: "query",
      required: false,
      description: "json, csv (RFC 4180 with a header row) or xml; the Accept header works too",
      schema: { type: "string", enum: ["json", "csv", "xml"] },
    });
  }
  return parameters;
}

function operation(endpoint: Endpoint): JsonSchema {
  const pathParameters = [...endpoint.pattern.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const content: Record<string, JsonSchema> = {};
  if (endpoint.response.schema)
    content["application/json"] = { schema: jsonSchema(endpoint.response.schema, "output") };
  if (endpoint.response.table) {
    content["text/csv"] = { schema: { type: "string" } };
    content["application/xml"] = { schema: { type: "string" } };
  }
  const success = {
    description: endpoint.response.description,
    ...(Object.keys(content).length > 0 ? { content } : {}),
  };
  return {
    summary: endpoint.summary,
    tags: [endpoint.tag],
    operationId: `${endpoint.method.toLowerCase()}${openApiPath(endpoint.pattern).replace(/[^A-Za-z]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
    description: `Access: ${ACCESS_TEXT[endpoint.access]}.`,
    parameters: [...pathParameters, ...queryParameters(endpoint)],
    ...(endpoint.bodySchema
      ? {
          requestBody: {
            required: !endpoint.bodySchema.safeParse(undefined).success,
            content: { "application/json": { schema: jsonSchema(endpoint.bodySchema, "input") } },
          },
        }
      : {}),
    responses: {
      [String(endpoint.response.status)]: success,
      ...(endpoint.response.alsoStatus ? { [String(endpoint.response.alsoStatus)]: success } : {}),
      "400": ERROR_RESPONSE("invalid request; `issues` names each field at fault"),
      "401": ERROR_RESPONSE("no or unknown bearer token"),
      "403": ERROR_RESPONSE("the token may not make this call"),
      "404": ERROR_RESPONSE("not found"),
    },
  };
}

export function openApiDocument(endpoints: readonly Endpoint[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const endpoint of endpoints) {
    const path = openApiPath(endpoint.pattern);
    paths[path] ??= {};
    (paths[path] as Record<string, JsonSchema>)[endpoint.method.toLowerCase()] = operation(endpoint);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "relayfleet API",
      version: "v1",
      description:
        "Admin and reporting API of a relayfleet relay. Lists are newest first unless said otherwise and paged with an opaque cursor (nextCursor in JSON, the x-next-cursor header in every format). Times are milliseconds since the epoch; query times also accept ISO 8601.",
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "the admin apiToken or an account API key" },
      },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
