/**
 * The one loader for the relay's YAML configuration: file, then environment
 * overrides, then schema validation. Every problem is reported at once, each
 * naming the offending key and what was expected. Problems never quote a
 * secret (tokens, keys, passwords, a Redis URL that may carry one): the
 * message ends up in pod logs.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { type RelayConfig, relayConfigSchema } from "./schema.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Environment variables that override config keys (applied after the file). */
export const ENV_OVERRIDES: Record<string, readonly string[]> = {
  REDIS_URL: ["store", "redis"],
  RELAYFLEET_API_TOKEN: ["apiToken"],
  RELAYFLEET_TRACKING_SECRET: ["trackingSecret"],
  RELAYFLEET_DATA_DIR: ["dataDir"],
  RELAYFLEET_HOSTNAME: ["hostname"],
  RELAYFLEET_MODE: ["mode"],
  TRACKING_BASE_URL: ["trackingBaseUrl"],
  LOG_LEVEL: ["logLevel"],
};

export interface LoadOptions {
  /** YAML file; absent: defaults plus environment. */
  file?: string;
  env?: Record<string, string | undefined>;
}

export async function loadConfig(options: LoadOptions = {}): Promise<RelayConfig> {
  const source = options.file ?? "(defaults)";
  let raw: unknown = {};
  if (options.file !== undefined) {
    let text: string;
    try {
      text = await readFile(options.file, "utf8");
    } catch (error) {
      throw new ConfigError(source, [`cannot read the file: ${(error as Error).message}`]);
    }
    raw = parseYaml(text, source);
  }
  return parseConfig(applyEnvOverrides(raw, options.env ?? process.env, source), source);
}

export function parseYaml(text: string, source: string): unknown {
  // Not prettyErrors: those quote the offending source line, which may be `apiToken: ...`.
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML: ${e.message} at ${lineAndColumn(text, e.pos[0])}`),
    );
  return doc.toJS() ?? {};
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return `line ${line}, column ${column}`;
}

/** Keys whose values are secrets wherever they appear (accounts' passwords, DKIM keys, senders' auth). */
const SECRET_KEYS = new Set(["apiToken", "trackingSecret", "password", "pass", "privateKey", "redis"]);

/** `value` with every secret inside it replaced, for quoting in an error. */
function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      SECRET_KEYS.has(key) ? "(hidden)" : withoutSecrets(inner),
    ]),
  );
}

/** What a problem says it got: nothing for a secret, the rest with secrets inside hidden. */
export function quoteValue(path: readonly PropertyKey[], value: unknown): string {
  if (value === undefined) return "";
  const last = path[path.length - 1];
  if (typeof last === "string" && SECRET_KEYS.has(last)) return " (value hidden: it is a secret)";
  const text = JSON.stringify(withoutSecrets(value));
  return text === undefined ? "" : ` (got ${text.slice(0, 80)})`;
}

export function parseConfig(raw: unknown, source = "(config)"): RelayConfig {
  const result = relayConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(source, describeIssues(result.error.issues, raw));
}

function applyEnvOverrides(raw: unknown, env: Record<string, string | undefined>, source: string): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(source, ["the top level must be a mapping of keys (hostname:, listen:, ...)"]);
  }
  const config = structuredClone(raw) as Record<string, unknown>;
  for (const [variable, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[variable];
    if (value === undefined || value === "") continue;
    let node = config;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      node[key] = next !== null && typeof next === "object" && !Array.isArray(next) ? next : {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = value;
  }
  return config;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out || "(top level)";
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function describeIssues(issues: readonly z.core.$ZodIssue[], raw: unknown): string[] {
  return issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const expected = allowedKeysAt(relayConfigSchema, issue.path);
      return issue.keys
        .map((key) => {
          const guess = closest(key, expected);
          const hint = guess ? ` (did you mean "${guess}"?)` : "";
          return `unknown key "${formatPath([...issue.path, key])}"${hint}; expected one of: ${expected.join(", ")}`;
        })
        .join("\n  - ");
    }
    return `${formatPath(issue.path)}: ${issue.message}${quoteValue(issue.path, valueAt(raw, issue.path))}`;
  });
}

interface SchemaDef {
  type: string;
  shape?: Record<string, { def: SchemaDef }>;
  innerType?: { def: SchemaDef };
  element?: { def: SchemaDef };
  valueType?: { def: SchemaDef };
  in?: { def: SchemaDef };
}

/** The keys the schema allows at `path` (through defaults, optionals, arrays and records). */
function allowedKeysAt(schema: { def: unknown }, path: readonly PropertyKey[]): string[] {
  let def = schema.def as SchemaDef;
  const unwrap = (d: SchemaDef): SchemaDef => {
    let current = d;
    while (current.innerType || current.in) current = (current.innerType ?? current.in)?.def as SchemaDef;
    return current;
  };
  for (const key of path) {
    def = unwrap(def);
    if (def.type === "object" && def.shape && typeof key === "string" && def.shape[key])
      def = def.shape[key].def;
    else if (def.type === "array" && def.element) def = def.element.def;
    else if (def.type === "record" && def.valueType) def = def.valueType.def;
    else return [];
  }
  def = unwrap(def);
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** The allowed key within edit distance 2 of a mistyped one, if any. */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
