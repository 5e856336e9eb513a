/**
 * The Lua scripts under ./scripts/, one per atomic multi-key change. A file
 * is named NAME-N.lua, N being its number of KEYS (the BullMQ convention);
 * each file's header states its KEYS, ARGV and return codes.
 *
 * They are registered with ioredis defineCommand, which runs them by SHA and
 * falls back to EVAL after a NOSCRIPT (e.g. a Redis restart).
 *
 * Build note: tsc does not copy .lua files; the build must copy
 * relay/store/redis/scripts/*.lua next to the compiled index.js.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";

export const SCRIPT_NAMES = [
  "putAccount",
  "deleteAccount",
  "putApiKey",
  "deleteApiKey",
  "addSuppression",
  "removeSuppression",
  "checkAndIncrement",
  "hit",
  "recordMessage",
  "recordEvent",
  "markSuppressed",
  "addAggregates",
  "recordError",
  "reportBlocked",
  "outboxEnqueue",
  "outboxClaim",
  "outboxFinish",
  "outboxRetry",
  "outboxDeleteAccount",
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** What a script answers: integers, strings, nil, and arrays of them. */
export type ScriptReply = number | string | null | ScriptReply[];

export type ScriptArg = string | number;

export interface Scripts {
  run(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply>;
}

interface LoadedScript {
  lua: string;
  numberOfKeys: number;
}

const SCRIPTS_DIR = new URL("./scripts/", import.meta.url);

export function loadScripts(): Map<ScriptName, LoadedScript> {
  const byName = new Map<ScriptName, LoadedScript>();
  for (const file of readdirSync(SCRIPTS_DIR)) {
    const match = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const name = SCRIPT_NAMES.find((n) => n === match[1]);
    if (!name) throw new Error(`unexpected Lua script ${file}`);
    byName.set(name, {
      lua: readFileSync(new URL(file, SCRIPTS_DIR), "utf8"),
      numberOfKeys: Number(match[2]),
    });
  }
  for (const name of SCRIPT_NAMES) {
    if (!byName.has(name))
      throw new Error(`Lua script ${name}-N.lua is missing from ${SCRIPTS_DIR.pathname}`);
  }
  return byName;
}

type ScriptCommand = (...keysAndArgs: ScriptArg[]) => Promise<ScriptReply>;

/** Registers every script on `client` and returns a typed way to call them. */
export function defineScripts(client: RedisClient, loaded: Map<ScriptName, LoadedScript>): Scripts {
  for (const [name, script] of loaded) client.defineCommand(name, script);
  const commands = client as unknown as Record<ScriptName, ScriptCommand>;
  return {
    run(name, keys, args) {
      const expected = loaded.get(name)?.numberOfKeys;
      if (expected !== keys.length) {
        throw new Error(`script ${name} takes ${expected} keys, got ${keys.length}`);
      }
      return commands[name].call(client, ...keys, ...args);
    },
  };
}

/** A reply whose shape breaks the script's contract: a corrupt stored value or a mismatched script. */
export class UnexpectedReplyError extends Error {
  override readonly name = "UnexpectedReplyError";
}

/** Reads a reply the script header promises to be an array. */
export function replyArray(reply: ScriptReply): ScriptReply[] {
  if (!Array.isArray(reply)) throw new UnexpectedReplyError(`expected an array reply, got ${typeof reply}`);
  return reply;
}

export function replyNumber(reply: ScriptReply | undefined): number {
  const value = typeof reply === "string" ? Number(reply) : reply;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new UnexpectedReplyError(`expected a number reply, got ${String(reply)}`);
  }
  return value;
}

export function replyString(reply: ScriptReply | undefined): string {
  if (typeof reply === "string") return reply;
  if (typeof reply === "number") return String(reply);
  throw new UnexpectedReplyError(`expected a string reply, got ${String(reply)}`);
}
