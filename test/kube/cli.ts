/**
 * `npm run test-apiserver -- --port N --kubeconfig FILE [--verbose]`: the test
 * API server as a process, for kubectl and helm by hand. Runs until stopped.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startTestApiServer } from "./server.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "6443" },
    kubeconfig: { type: "string", default: "test-apiserver.kubeconfig" },
    verbose: { type: "boolean", default: false },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a TCP port, got ${values.port}`);
  process.exit(2);
}
const kubeconfigPath = resolve(values.kubeconfig);
const server = await startTestApiServer({
  port,
  kubeconfigPath,
  ...(values.verbose ? { onRequest: (line: string) => console.error(line) } : {}),
});
console.log(`test Kubernetes API server listening on ${server.url}`);
console.log(`kubeconfig written to ${kubeconfigPath}; try:`);
console.log(`  export KUBECONFIG=${kubeconfigPath}`);
console.log("  kubectl get namespaces");

const shutdown = () => {
  void server.stop().then(() => process.exit(0));
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
