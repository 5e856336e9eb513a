/**
 * A directory laid out as the kubelet lays out a Secret volume, and updated
 * as it updates one: each version of the files goes into a new hidden
 * directory, `..data` is a symlink to it swapped atomically (a temporary
 * link renamed over it), and `tls.crt`/`tls.key` are symlinks through
 * `..data`. The previous version's directory is removed after the swap.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { projectVolume } from "./projected-volume.js";

export interface SecretVolume {
  cert: string;
  key: string;
  /** Publishes a new version of both files in one atomic swap. */
  publish(files: { cert: string | Buffer; key: string | Buffer }): Promise<void>;
}

export async function secretVolume(dir: string): Promise<SecretVolume> {
  await mkdir(dir, { recursive: true });
  return {
    cert: join(dir, "tls.crt"),
    key: join(dir, "tls.key"),
    async publish(files) {
      const bytes = (value: string | Buffer) => (typeof value === "string" ? Buffer.from(value) : value);
      projectVolume(
        dir,
        new Map([
          ["tls.crt", bytes(files.cert)],
          ["tls.key", bytes(files.key)],
        ]),
        { "tls.key": 0o600 },
      );
    },
  };
}
