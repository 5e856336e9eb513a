/**
 * A directory laid out as the kubelet lays out a Secret volume, and updated
 * as it updates one: each version of the files goes into a new hidden
 * directory, `..data` is a symlink to it swapped atomically (a temporary
 * link renamed over it), and `tls.crt`/`tls.key` are symlinks through
 * `..data`. The previous version's directory is removed after the swap.
 */
import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface SecretVolume {
  cert: string;
  key: string;
  /** Publishes a new version of both files in one atomic swap. */
  publish(files: { cert: string | Buffer; key: string | Buffer }): Promise<void>;
}

export async function secretVolume(dir: string): Promise<SecretVolume> {
  await mkdir(dir, { recursive: true });
  let version = 0;
  let previous: string | undefined;
  const volume: SecretVolume = {
    cert: join(dir, "tls.crt"),
    key: join(dir, "tls.key"),
    async publish(files) {
      version++;
      const name = `..2026_12_02_00_00_0${version}.${process.pid}`;
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, "tls.crt"), files.cert);
      await writeFile(join(dir, name, "tls.key"), files.key, { mode: 0o600 });
      await symlink(name, join(dir, "..data_tmp"));
      await rename(join(dir, "..data_tmp"), join(dir, "..data"));
      if (version === 1) {
        await symlink("..data/tls.crt", volume.cert);
        await symlink("..data/tls.key", volume.key);
      }
      if (previous) await rm(join(dir, previous), { recursive: true, force: true });
      previous = name;
    },
  };
  return volume;
}
