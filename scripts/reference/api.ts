/** docs/reference/api.md: every call of the HTTP API, from the OpenAPI document the relay serves. */
import { openApiDocument } from "../../relay/api/openapi.js";
import { API_ROUTES } from "../../relay/api/server.js";
import { code, GENERATED_NOTE, type JsonSchema, table } from "./markdown.js";

export function apiReference(): string {
  const document = openApiDocument(API_ROUTES);
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
serves at \`GET /v1/openapi.json\` (\`relay/api/openapi.ts\`, built from the route table);
that document has every parameter, body and response schema. Every call takes
\`Authorization: Bearer TOKEN\`. ${info.description ?? ""}

Besides these: the lifecycle endpoints (\`/healthz\`, \`/readyz\`, the drain and hand-off
calls the operator makes) and the web console under \`/console\`.

${table(["method", "path", "summary", "who may call it"], rows)}
`;
}
