/** docs/reference/custom-resources.md: RelayPool and SenderRoute fields, from the CRDs operator/api builds. */
import {
  type KindNames,
  RELAY_POOL,
  relayPoolCrd,
  SENDER_ROUTE,
  senderRouteCrd,
} from "../../operator/api/crds.js";
import { fieldRows, fieldTable, GENERATED_NOTE, type JsonSchema } from "./markdown.js";

function openApiSchema(crd: JsonSchema): JsonSchema {
  const spec = crd.spec as { versions: { schema: { openAPIV3Schema: JsonSchema } }[] };
  const version = spec.versions[0];
  if (!version) throw new Error("a CRD without a version");
  return version.schema.openAPIV3Schema;
}

function section(names: KindNames, crd: JsonSchema): string {
  const properties = openApiSchema(crd).properties as Record<string, JsonSchema>;
  const part = (field: "spec" | "status") => fieldTable(fieldRows(properties[field] ?? {}, field));
  return `## ${names.kind}

\`kubectl get ${names.plural}\` (short name${names.shortNames.length > 1 ? "s" : ""} ${names.shortNames.map((n) => `\`${n}\``).join(", ")}).

### spec

${part("spec")}

### status

Written by the operator.

${part("status")}
`;
}

export function customResourcesReference(): string {
  return `# Custom resources

${GENERATED_NOTE}

The fields of the relayfleet.io/v1alpha1 kinds, from the schemas in \`operator/api/*.ts\`
(the CRDs in \`crds/\` come from the same builders: \`npx tsx operator/api/write-crds.ts\`).
A default is filled in by the API server. What the operator does with them:
[../relaypool.md](../relaypool.md); \`spec.relay\` takes the relay's own keys
([config.md](config.md)).

${section(RELAY_POOL, relayPoolCrd())}
${section(SENDER_ROUTE, senderRouteCrd())}`;
}
