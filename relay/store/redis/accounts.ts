/**
 * Accounts and API keys. All of it lives in the {accounts} slot: a username
 * or key hash must be unique across accounts, so the script that claims one
 * has to see every account's. (An account's webhooks live in its own slot.)
 */

import { accountForClient } from "../../accounts/match.js";
import type { Account } from "../../accounts/schema.js";
import { accountSchema } from "../../accounts/schema.js";
import type { ApiKeyRecord } from "../../vocabulary.js";
import { StoreError } from "../types.js";
import { apiKeySchema, byCodeUnit, checkInput, decodeStored } from "./codecs.js";
import { execResults } from "./connection.js";
import type { RedisContext } from "./context.js";
import { deleteAccountDeliveries } from "./outbox.js";
import { replyArray, replyNumber, replyString } from "./scripts.js";
import { deleteAllWebhooks } from "./webhooks.js";

/** createdAt is stored apart so that a replace can keep it without parsing JSON in Lua. */
const storedAccountSchema = accountSchema.omit({ createdAt: true });

function decodeAccount(json: string, createdAt: string | null | undefined): Account {
  const settings = decodeStored(storedAccountSchema, json, "account");
  const created = Number(createdAt);
  if (createdAt == null || !Number.isInteger(created)) {
    throw new StoreError("invalid", `stored account ${settings.name} has no valid createdAt`);
  }
  return { ...settings, createdAt: created };
}

export async function putAccount(ctx: RedisContext, input: Account): Promise<void> {
  const account = checkInput(accountSchema, input, "account");
  const { createdAt, ...settings } = account;
  const usernames = [...new Set(account.credentials.map((c) => c.username))];
  const { keys } = ctx;
  const reply = replyArray(
    await ctx.scripts.run(
      "putAccount",
      [keys.accounts, keys.accountsCreated, keys.usernames, keys.usernamesOf(account.name)],
      [account.name, JSON.stringify(settings), createdAt, ...usernames],
    ),
  );
  if (replyNumber(reply[0]) === -1) {
    throw new StoreError("conflict", `username ${replyString(reply[1])} belongs to another account`);
  }
  await ctx.notify({ kind: "account", name: account.name });
}

export async function getAccount(ctx: RedisContext, name: string): Promise<Account | undefined> {
  const [json, createdAt] = await ctx.client
    .multi()
    .hget(ctx.keys.accounts, name)
    .hget(ctx.keys.accountsCreated, name)
    .exec()
    .then(execResults);
  if (typeof json !== "string") return undefined;
  return decodeAccount(json, typeof createdAt === "string" ? createdAt : null);
}

export async function listAccounts(ctx: RedisContext): Promise<Account[]> {
  const [records, created] = await ctx.client
    .multi()
    .hgetall(ctx.keys.accounts)
    .hgetall(ctx.keys.accountsCreated)
    .exec()
    .then(execResults);
  const recordMap = asStringRecord(records);
  const createdMap = asStringRecord(created);
  return Object.keys(recordMap)
    .sort(byCodeUnit)
    .map((name) => decodeAccount(recordMap[name] ?? "", createdMap[name]));
}

export async function deleteAccount(ctx: RedisContext, name: string): Promise<boolean> {
  const { keys } = ctx;
  // Webhooks live in the account's own slot, so they go in a step of their own, and first:
  // a crash in between then leaves an account without webhooks, never webhooks (URL and
  // secret) that a new account of the same name would inherit.
  await deleteAllWebhooks(ctx, name);
  await deleteAccountDeliveries(ctx, name);
  const removed = replyNumber(
    await ctx.scripts.run(
      "deleteAccount",
      [
        keys.accounts,
        keys.accountsCreated,
        keys.usernames,
        keys.usernamesOf(name),
        keys.apiKeys,
        keys.apiKeysOf(name),
      ],
      [name],
    ),
  );
  if (removed === 1) await ctx.notify({ kind: "account", name });
  return removed === 1;
}

export async function findAccountByUsername(
  ctx: RedisContext,
  username: string,
): Promise<{ account: Account; passwordHash: string } | undefined> {
  const owner = await ctx.client.hget(ctx.keys.usernames, username);
  if (owner === null) return undefined;
  const account = await getAccount(ctx, owner);
  const credential = account?.credentials.find((c) => c.username === username);
  // A concurrent replace may have moved the username between the two reads: then it is not this account's.
  if (!account || !credential) return undefined;
  return { account, passwordHash: credential.passwordHash };
}

export async function findAccountByClient(
  ctx: RedisContext,
  ip: string,
  from: string,
): Promise<Account | undefined> {
  return accountForClient(await listAccounts(ctx), ip, from);
}

export async function putApiKey(ctx: RedisContext, input: ApiKeyRecord): Promise<void> {
  const key = checkInput(apiKeySchema, input, "API key");
  const stored = replyNumber(
    await ctx.scripts.run(
      "putApiKey",
      [ctx.keys.apiKeys, ctx.keys.apiKeysOf(key.account)],
      [key.id, key.hash, JSON.stringify(key)],
    ),
  );
  if (stored === -1) throw new StoreError("conflict", "an API key with this hash already exists");
}

export async function findApiKey(ctx: RedisContext, hash: string): Promise<ApiKeyRecord | undefined> {
  const json = await ctx.client.hget(ctx.keys.apiKeys, hash);
  return json === null ? undefined : decodeStored(apiKeySchema, json, "API key");
}

export async function deleteApiKey(ctx: RedisContext, account: string, id: string): Promise<boolean> {
  const removed = await ctx.scripts.run(
    "deleteApiKey",
    [ctx.keys.apiKeys, ctx.keys.apiKeysOf(account)],
    [id],
  );
  return replyNumber(removed) === 1;
}

function asStringRecord(value: unknown): Record<string, string> {
  return value !== null && typeof value === "object" ? (value as Record<string, string>) : {};
}
