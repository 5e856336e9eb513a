/**
 * First-start material for a relay: the tracking HMAC key and the admin API
 * token (generated under dataDir when config does not give them), and on a
 * bare machine a demo account so that `npm start` can be tried at once.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Reads a secret from `file`, creating it (mode 0600) with fresh random bytes the first time. */
export async function ensureSecretFile(file: string, bytes = 32): Promise<string> {
  try {
    const value = (await readFile(file, "utf8")).trim();
    if (value.length >= 16) return value;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const value = randomBytes(bytes).toString("base64url");
  await mkdir(join(file, ".."), { recursive: true });
  await writeFile(file, `${value}\n`, { mode: 0o600, flag: "w" });
  return value;
}

export interface DemoCredentials {
  username: string;
  password: string;
}

/** The demo account's credentials, kept in dataDir so later starts can print them again. */
export async function demoCredentials(dataDir: string): Promise<DemoCredentials> {
  const password = await ensureSecretFile(join(dataDir, "demo-password"), 12);
  return { username: "demo", password };
}
