/**
 * First-start material for a relay: the tracking HMAC key and the admin API
 * token (generated under dataDir when config does not give them), and on a
 * bare machine a demo account so that `npm start` can be tried at once.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * Creates the data directory (and any missing parents) readable by this user
 * only: it holds the generated secrets, the embedded store and the spool.
 * An existing directory is left as it is (it may be a volume mount, or a
 * directory the operator chose on purpose).
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Reads a secret from `file`, creating it (mode 0600) with fresh random bytes the first time. */
export async function ensureSecretFile(file: string, bytes = 32): Promise<string> {
  try {
    const value = (await readFile(file, "utf8")).trim();
    if (value.length >= 16) return value;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const value = randomBytes(bytes).toString("base64url");
  await ensurePrivateDir(dirname(file));
  await writeFile(file, `${value}\n`, { mode: 0o600, flag: "w" });
  // The mode above applies only when the file is new; a too-short one being replaced keeps its own.
  await chmod(file, 0o600);
  return value;
}

export interface DemoCredentials {
  username: string;
  password: string;
}

/** The demo account's credentials, kept in dataDir so later starts can print them again. */
export async function demoCredentials(dataDir: string): Promise<DemoCredentials> {
  const password = await ensureSecretFile(demoPasswordFile(dataDir), 12);
  return { username: "demo", password };
}

export function demoPasswordFile(dataDir: string): string {
  return join(dataDir, "demo-password");
}

export function apiTokenFile(dataDir: string): string {
  return join(dataDir, "api-token");
}
