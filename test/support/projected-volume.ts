/**
 * The on-disk layout of a Kubernetes configMap or secret volume, as the kubelet's atomic
 * writer makes it: the test kubelet mounts volumes with it, and TLS tests renew a
 * certificate through it the way a cert-manager renewal reaches a relay pod.
 */
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/**
 * Writes a projected volume the way the kubelet's atomic writer does: the files in a
 * timestamped directory, `..data` a symlink to it swapped by rename, and each file a
 * symlink through `..data`. A container therefore sees either the old set of files or the
 * new one, never a mix, and a process watching the directory sees `..data` change (how
 * cert-manager renewals reach a running relay). Nothing is written when nothing changed.
 */
export function projectVolume(
  dir: string,
  files: Map<string, Buffer>,
  modes: Record<string, number> = {},
): boolean {
  mkdirSync(dir, { recursive: true });
  const current = join(dir, "..data");
  let unchanged = existsSync(current);
  if (unchanged) {
    const target = join(dir, readlinkSync(current));
    const present = readdirSync(target);
    unchanged =
      present.length === files.size &&
      [...files].every(([name, bytes]) => {
        const path = join(target, name);
        return existsSync(path) && readFileSync(path).equals(bytes);
      });
  }
  if (unchanged) return false;
  const previous = existsSync(current) ? readlinkSync(current) : undefined;
  const stamp = `..${new Date().toISOString().replace(/[-:T]/g, "_").replace(/\..*/, "")}.${randomBytes(4).toString("hex")}`;
  mkdirSync(join(dir, stamp));
  for (const [name, bytes] of files)
    writeFileSync(join(dir, stamp, name), bytes, { mode: modes[name] ?? 0o644 });
  symlinkSync(stamp, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), current);
  for (const [name] of files) {
    const link = join(dir, name);
    if (!existsSync(link)) symlinkSync(join("..data", name), link);
  }
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith("..") || files.has(entry)) continue;
    rmSync(join(dir, entry), { force: true });
  }
  if (previous && previous !== stamp) rmSync(join(dir, previous), { recursive: true, force: true });
  return true;
}
