/**
 * The OpenAPI 3.1 document served at /v1/openapi.json, generated from the route
 * table and its zod schemas (JSON Schema 2020-12, which OpenAPI 3.1 uses).
 */
import { type ZodType, z } from "zod";
import type { ApiRoute } from "./route.js";
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

const ERROR_RESPONSE = (description: string) => ({
  description,
  content: { "application/json": { schema: jsonSchema(errorBodySchema, "output") } },
});

function queryParameters(route: ApiRoute): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  if (route.querySchema) {
    const schema = jsonSchema(route.querySchema, "input");
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries(properties)) {
      parameters.push({ name, in: "query", required: required.has(name), schema: property });
    }
  }
  if (route.response.table) {
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

function operation(route: ApiRoute): JsonSchema {
  const pathParameters = [...route.pattern.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const content: Record<string, JsonSchema> = {};
  if (route.response.schema)
    content["application/json"] = { schema: jsonSchema(route.response.schema, "output") };
  if (route.response.table) {
    content["text/csv"] = { schema: { type: "string" } };
    content["application/xml"] = { schema: { type: "string" } };
  }
  const success = {
    description: route.response.description,
    ...(Object.keys(content).length > 0 ? { content } : {}),
  };
  return {
    summary: route.summary,
    tags: [route.tag],
    operationId: `${route.method.toLowerCase()}${openApiPath(route.pattern).replace(/[^A-Za-z]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
    description: `Access: ${route.access === "admin" ? "the admin token" : route.access === "account" ? "the admin token or this account's API key" : "the admin token or the owning account's API key"}.`,
    parameters: [...pathParameters, ...queryParameters(route)],
    ...(route.bodySchema
      ? {
          requestBody: {
            required: !route.bodySchema.safeParse(undefined).success,
            content: { "application/json": { schema: jsonSchema(route.bodySchema, "input") } },
          },
        }
      : {}),
    responses: {
      [String(route.response.status)]: success,
      ...(route.response.alsoStatus ? { [String(route.response.alsoStatus)]: success } : {}),
      "400": ERROR_RESPONSE("invalid request; `issues` names each field at fault"),
      "401": ERROR_RESPONSE("no or unknown bearer token"),
      "403": ERROR_RESPONSE("the token may not make this call"),
      "404": ERROR_RESPONSE("not found"),
    },
  };
}

export function openApiDocument(routes: readonly ApiRoute[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = openApiPath(route.pattern);
    paths[path] ??= {};
    (paths[path] as Record<string, JsonSchema>)[route.method.toLowerCase()] = operation(route);
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
