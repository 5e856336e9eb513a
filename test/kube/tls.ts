/**
 * The server's TLS identity: a throwaway CA and a serving certificate for
 * the listen address, made with openssl once per process. TLS is not for
 * secrecy here: client-go (kubectl, helm) sends no credentials at all to an
 * http:// server, so authentication needs https, as on a real cluster.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface ServingCertificate {
  key: string;
  cert: string;
  /** The CA that signed `cert`: the kubeconfig's certificate-authority-data. */
  ca: string;
}

const cache = new Map<string, Promise<ServingCertificate>>();

async function generate(host: string): Promise<ServingCertificate> {
  const dir = await mkdtemp(join(tmpdir(), "relayfleet-apiserver-tls-"));
  try {
    const file = (name: string) => join(dir, name);
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await run("openssl", [
      "req",
      "-x509",
      ...ec,
      "-days",
      "30",
      "-subj",
      "/CN=relayfleet-test-ca",
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.crt"),
    ]);
    await run("openssl", [
      "req",
      ...ec,
      "-subj",
      "/CN=kube-apiserver",
      "-keyout",
      file("server.key"),
      "-out",
      file("server.csr"),
    ]);
    const names = new Set(["DNS:localhost", "DNS:kubernetes.default.svc", "IP:127.0.0.1"]);
    names.add(isIP(host) ? `IP:${host}` : `DNS:${host}`);
    await writeFile(
      file("server.ext"),
      `subjectAltName=${[...names].join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`,
    );
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      file("server.csr"),
      "-CA",
      file("ca.crt"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-days",
      "30",
      "-extfile",
      file("server.ext"),
      "-out",
      file("server.crt"),
    ]);
    const [key, cert, ca] = await Promise.all(
      ["server.key", "server.crt", "ca.crt"].map((name) => readFile(file(name), "utf8")),
    );
    return { key: key ?? "", cert: cert ?? "", ca: ca ?? "" };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A serving certificate for `host` (cached: every server in the process on that host shares it). */
export function servingCertificate(host: string): Promise<ServingCertificate> {
  let found = cache.get(host);
  if (!found) {
    found = generate(host);
    // A failed openssl run is not cached, so the next server tries again.
    found.catch(() => cache.delete(host));
    cache.set(host, found);
  }
  return found;
}
