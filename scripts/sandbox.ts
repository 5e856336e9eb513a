/**
 * `npm run sandbox [-- --dir DIR --port 6443 --address-prefix 127.0.1]`: the
 * whole fleet on this machine (test/e2e/fleet.ts): a Kubernetes API server
 * whose kubelet runs relay pods as real processes on 127.0.1.N, Redis, Prometheus, the operator
 * and SMTP peers playing two ISPs. Writes a kubeconfig and example manifests,
 * prints what to type, and stops everything on Ctrl-C.
 *
 * `npm run sandbox -- send [--count 200 --concurrency 10]` (from a second
 * terminal): mail through the pool's A records, round robin.
 *
 * `npm run sandbox -- isp isp-a.test blocked --source 127.0.0.2` (or accept,
 * defer, reject; without --source, for every client): how an ISP peer
 * answers from now on, e.g. to make it block one outbound address. The
 * running sandbox takes the change on a control port on 127.0.0.1.
 */

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Fleet, fleetExamples, startFleet } from "../test/e2e/fleet.js";
import { adminToken, aRecords, putAccount, sendMail } from "../test/e2e/mail.js";
import { httpsFetch } from "../test/kube/https-fetch.js";
import { kubeToolsDir } from "../test/kube/kube-tools.js";
import type { PeerBehaviour } from "../test/support/smtp-peer.js";
import { createTestCa } from "../test/support/test-ca.js";

/** The example pool's name in DNS: its certificate's name, and the SNI a client sends. */
const POOL_HOSTNAME = "smtp-marathon.example.com";
const BOUNCE_DOMAIN = "bounces.marathon.example.com";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: "string", default: join(tmpdir(), "relayfleet-sandbox") },
    port: { type: "string", default: "6443" },
    count: { type: "string", default: "200" },
    concurrency: { type: "string", default: "10" },
    verbose: { type: "boolean", default: false },
    source: { type: "string" },
    "address-prefix": { type: "string", default: "127.0.1" },
  },
});
const dir = resolve(values.dir);
const stateFile = join(dir, "sandbox.json");
const BEHAVIOURS: readonly PeerBehaviour[] = ["accept", "defer", "reject", "blocked"];

interface SandboxState {
  apiUrl: string;
  /** The API server's CA and admin token: it serves HTTPS and authenticates every call. */
  apiCa: string;
  apiToken: string;
  domains: string[];
  controlUrl: string;
}

function readState(): SandboxState {
  if (!existsSync(stateFile))
    throw new Error(`no sandbox running in ${dir} (start one with npm run sandbox)`);
  return JSON.parse(readFileSync(stateFile, "utf8")) as SandboxState;
}

/** `isp DOMAIN BEHAVIOUR [--source IP]`: tells the running sandbox how that ISP answers from now on. */
async function isp(): Promise<void> {
  const [, domain, behaviour] = positionals;
  if (!domain || !behaviour || !BEHAVIOURS.includes(behaviour as PeerBehaviour))
    throw new Error(`usage: npm run sandbox -- isp DOMAIN ${BEHAVIOURS.join("|")} [--source IP]`);
  const state = readState();
  const response = await fetch(`${state.controlUrl}/isp`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ domain, behaviour, ...(values.source ? { source: values.source } : {}) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(text.trim());
  console.log(text.trim());
}

/** The control port `isp` talks to: changes one peer's answers. */
async function startControl(fleet: Fleet): Promise<Server> {
  const server = createServer((request, response) => {
    const reply = (status: number, text: string) => {
      response.writeHead(status, { "content-type": "text/plain" });
      response.end(`${text}\n`);
    };
    if (request.method !== "POST" || request.url !== "/isp") return reply(404, "POST /isp only");
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > 4096) request.destroy();
    });
    request.on("end", () => {
      let input: { domain?: unknown; behaviour?: unknown; source?: unknown };
      try {
        input = JSON.parse(body) as typeof input;
      } catch {
        return reply(400, "body: not JSON");
      }
      const peer = typeof input.domain === "string" ? fleet.peers.get(input.domain) : undefined;
      if (!peer) return reply(400, `domain: one of ${[...fleet.peers.keys()].join(", ")}`);
      const behaviour = BEHAVIOURS.find((b) => b === input.behaviour);
      if (!behaviour) return reply(400, `behaviour: one of ${BEHAVIOURS.join(", ")}`);
      if (input.source !== undefined && (typeof input.source !== "string" || isIP(input.source) === 0))
        return reply(400, "source: an IP address");
      if (input.source) peer.forSource(input.source, behaviour);
      else peer.setDefault(behaviour);
      const who = input.source ? `mail from ${input.source}` : "all mail";
      console.log(`${input.domain} now answers ${behaviour} to ${who}`);
      reply(200, `${input.domain} now answers ${behaviour} to ${who}`);
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return server;
}

async function send(): Promise<void> {
  const state = readState();
  let records: string[] = [];
  const refresh = async () => {
    const response = await httpsFetch(
      { url: state.apiUrl, ca: state.apiCa, adminToken: state.apiToken },
      "/apis/externaldns.k8s.io/v1alpha1/namespaces/mail/dnsendpoints/marathon",
    );
    const body = (await response.json()) as {
      spec?: { endpoints?: { recordType: string; targets: string[] }[] };
    };
    records = (body.spec?.endpoints ?? []).filter((e) => e.recordType === "A").flatMap((e) => e.targets);
  };
  await refresh();
  const timer = setInterval(() => void refresh().catch(() => undefined), 1_000);
  const started = Date.now();
  const results = await sendMail({
    records: () => records,
    domains: state.domains,
    count: Number(values.count),
    concurrency: Number(values.concurrency),
    idPrefix: `send-${started}`,
  });
  clearInterval(timer);
  const accepted = results.filter((r) => r.accepted).length;
  const byRelay = new Map<string, number>();
  for (const r of results) byRelay.set(r.relay, (byRelay.get(r.relay) ?? 0) + 1);
  console.log(`${accepted}/${results.length} accepted in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const [relay, n] of byRelay) console.log(`  ${relay || "(no A record)"}: ${n}`);
  for (const r of results.filter((x) => !x.accepted).slice(0, 5)) console.log(`  refused: ${r.error}`);
}

async function run(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  console.log(`starting the sandbox in ${dir} ...`);
  const fleet: Fleet = await startFleet({
    workDir: dir,
    apiServerPort: Number(values.port),
    addressPrefix: values["address-prefix"],
    onEvent: (line) => values.verbose && console.log(line),
  });
  const control = await startControl(fleet);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping relays, operator, Prometheus, Redis and the API server ...`);
    control.close();
    await fleet.stop();
    console.log(`stopped; logs are under ${join(dir, "logs")} and ${join(dir, "node", "logs")}`);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  const domains = [...fleet.peers.keys()];
  // The pool's certificate, as cert-manager would issue it: a CA of the sandbox's own signs the
  // pool's name; clients verify against ca/ca.pem.
  const ca = await createTestCa({ dir: join(dir, "ca") });
  const issued = await ca.issue(POOL_HOSTNAME);
  const caFile = join(dir, "ca", "ca.pem");
  const passwordFile = join(dir, "sandbox-password");
  const password = randomBytes(12).toString("base64url");
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const examples = join(dir, "examples.yaml");
  writeFileSync(
    examples,
    fleetExamples(fleet, {
      tls: { cert: readFileSync(issued.cert, "utf8"), key: readFileSync(issued.key, "utf8") },
      smtpPorts: [25, 465],
      relay: { bounceDomain: BOUNCE_DOMAIN, feedback: { loopAddresses: ["fbl"] } },
    }),
  );
  const state: SandboxState = {
    apiUrl: fleet.server.url,
    apiCa: fleet.server.ca,
    apiToken: fleet.server.adminToken,
    domains,
    controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
  };
  writeFileSync(stateFile, JSON.stringify(state));
  const kubectl = join(kubeToolsDir(), "kubectl");
  console.log(`
The sandbox is up.
  API server  ${fleet.server.url}   Prometheus ${fleet.prometheusUrl}   Redis ${fleet.redis.url}
  ISPs        ${[...fleet.peers].map(([d, p]) => `${d} → ${p.host}:${p.port}`).join(", ")}
  Tracking    ${fleet.tracking.url} (the pool's tracking Service: round robin over the ready relays)

In another terminal:
  export KUBECONFIG=${fleet.kubeconfigPath}
  alias kubectl=${kubectl}
  kubectl apply -f crds/
  kubectl apply -f ${examples}
  kubectl get relaypools,senderroutes,statefulsets,pods,dnsendpoints -n mail
  kubectl get dnsendpoint marathon -n mail -o jsonpath='{.spec.endpoints[0].targets}'
  npm run sandbox -- send --count 400 --concurrency 20     # mail through the A records
  kubectl get relaypool marathon -n mail -w                  # watch it scale
  npm run sandbox -- isp isp-a.test blocked --source ${fleet.sourceAddresses[0]}   # ISP A blocks one outbound IP
  kubectl get senderroute default -n mail -o yaml            # status.blocked: routed around it
  npm run sandbox -- isp isp-a.test accept --source ${fleet.sourceAddresses[0]}    # and lifts the block

TLS (the pool's certificate is signed by ${caFile}; AUTH only after TLS):
  RELAY=$(kubectl get dnsendpoint marathon -n mail -o jsonpath='{.spec.endpoints[0].targets[0]}')
  openssl s_client -starttls smtp -connect $RELAY:25 -servername ${POOL_HOSTNAME} -CAfile ${caFile} -verify_return_error -verify_hostname ${POOL_HOSTNAME}
  openssl s_client -connect $RELAY:465 -servername ${POOL_HOSTNAME} -CAfile ${caFile} -verify_return_error -verify_hostname ${POOL_HOSTNAME}
  # after TLS: AUTH as user "sandbox", the password in ${passwordFile}

Ctrl-C stops everything.`);

  // The account the examples send from, as soon as a relay is ready to take it.
  const seed = setInterval(() => {
    const [first] = aRecords(fleet.server);
    if (!first) return;
    clearInterval(seed);
    void putAccount(first, adminToken(fleet.server), "sandbox", [{ username: "sandbox", password }]).then(
      () => console.log(`pool ready at ${aRecords(fleet.server).join(", ")}; account "sandbox" created`),
      (error: unknown) => console.error(`could not create the account: ${String(error)}`),
    );
  }, 1_000);
}

const main = positionals[0] === "send" ? send : positionals[0] === "isp" ? isp : run;
main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
