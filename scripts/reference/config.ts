/** docs/reference/config.md: every relay.yaml key, from the relay's zod schema and its descriptions. */
import { z } from "zod";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { fieldRows, fieldTable, GENERATED_NOTE, type JsonSchema } from "./markdown.js";

export function configReference(): string {
  const schema = z.toJSONSchema(relayConfigSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return `# relay.yaml keys

${GENERATED_NOTE}

Every key of the relay's configuration file, from \`relay/config/schema.ts\` (its
\`.describe()\` texts are the descriptions). Every top-level key is optional;
"required" marks a key an enclosing object or list entry must have. How the file
is read, the environment overrides and TLS: [../configuration.md](../configuration.md).
On Kubernetes a RelayPool's \`spec.relay\` takes the same names, less the keys the
operator sets ([custom-resources.md](custom-resources.md)). \`routes\` and \`accounts[]\`
share their schemas with the Store and the API ([api.md](api.md)).

${fieldTable(fieldRows(schema, ""))}
`;
}
