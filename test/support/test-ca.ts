/**
 * A throwaway certificate authority made with the openssl command line, for
 * tests that verify a TLS chain end to end (no library's idea of a
 * certificate, the tool operators use). EC P-256 keys: quick to make on a
 * loaded machine.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "./temp-dir.js";

const run = promisify(execFile);

export interface IssuedCertificate {
  cert: string;
  key: string;
  /** The certificate's PEM text. */
  pem: string;
}

export interface TestCa {
  /** The CA certificate (PEM text), for a client's `ca`. */
  caPem: string;
  /** Issues a server certificate for `name` (CN and DNS SAN), valid for `days`. */
  issue(name: string, options?: { days?: number; dir?: string }): Promise<IssuedCertificate>;
}

async function openssl(args: string[]): Promise<void> {
  await run("openssl", args, { timeout: 60_000 });
}

/** `dir`: where its files go (default: a temp dir removed when the test finishes; pass one in a beforeAll). */
export async function createTestCa(options: { dir?: string } = {}): Promise<TestCa> {
  const dir = options.dir ?? (await tempDir("relayfleet-ca-"));
  await mkdir(dir, { recursive: true });
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.pem");
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "3",
    "-subj",
    "/CN=relayfleet test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    caKey,
    "-out",
    caCert,
  ]);
  let serial = 0;
  return {
    caPem: await readFile(caCert, "utf8"),
    async issue(name, options = {}) {
      serial++;
      const out = options.dir ?? dir;
      const key = join(out, `${name}-${serial}.key`);
      const csr = join(dir, `${name}-${serial}.csr`);
      const cert = join(out, `${name}-${serial}.pem`);
      const extensions = join(dir, `${name}-${serial}.ext`);
      await writeFile(
        extensions,
        `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
      );
      await openssl([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        key,
        "-out",
        csr,
      ]);
      await openssl([
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        caCert,
        "-CAkey",
        caKey,
        "-set_serial",
        String(1000 + serial),
        "-days",
        String(options.days ?? 30),
        "-extfile",
        extensions,
        "-out",
        cert,
      ]);
      return { cert, key, pem: await readFile(cert, "utf8") };
    },
  };
}
