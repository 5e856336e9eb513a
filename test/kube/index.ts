/**
 * A Kubernetes API server for tests (issue 7): start it in-process with
 * startTestApiServer(), or run `npm run test-apiserver -- --port N --kubeconfig FILE`.
 * Extra controllers (a kubelet, later) plug in through `controllers`.
 */
export type { Controller, ControllerFactory, InProcessApi } from "./controllers.js";
export {
  kubeconfigText,
  startTestApiServer,
  type TestApiServer,
  type TestApiServerOptions,
} from "./server.js";
