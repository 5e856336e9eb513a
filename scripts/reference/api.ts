/** docs/reference/api.md: every call of the HTTP API, from the OpenAPI document the relay serves. */
import { openApiDocument } from "../../relay/api/openapi.js";
import { API_ENDPOINTS } from "../../relay/api/server.js";
import { code, GENERATED_NOTE, type JsonSchema, table } from "./markdown.js";

export function apiReference(): string {
  const document = openApiDocument(API_ENDPOINTS);
  const paths = document.paths as Record<string, Record<string, JsonSchema>>;
  const rows: string[][] = [];
  for (const [path, operations] of Object.entries(paths))
    for (const [method, operation] of Object.entries(operations))
      rows.push([
        method.toUpperCase(),
        code(path),
        String(operation.summary ?? ""),
        String(operation.description ?? "").replace(/^Access: /, ""),
      ]);
  const info = document.info as { description?: string };
  return `# HTTP API

${GENERATED_NOTE}

The calls of the API listener (\`listen.api\`), from the OpenAPI 3.1 document the relay
serves at \`GET /v1/openapi.json\` (\`relay/api/openapi.ts\`, built from the endpoint table);
that document has every parameter, body and response schema. Every call takes
\`Authorization: Bearer TOKEN\`. ${info.description ?? ""}

Besides these, the listener answers the lifecycle endpoints, which are in the same endpoint
table (\`relay/api/endpoints-lifecycle.ts\`) but not in the OpenAPI document: \`/healthz\` and
\`/readyz\` (no token), and the drain, hand-off and spool calls the operator and other relays
make (the admin token only); and the web console under \`/console\`.

${table(["method", "path", "summary", "who may call it"], rows)}
`;
}
