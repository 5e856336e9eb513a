/** Accounts, their API keys and their transactional groups (docs/reference/api.md). */
import { hashCredentials } from "../accounts/credentials.js";
import type { Account } from "../accounts/schema.js";
import { accountInputSchema, accountNameSchema, accountSchema } from "../accounts/schema.js";
import { StoreError } from "../store/types.js";
import { newApiKey } from "./auth.js";
import { defineEndpoint, type Endpoint } from "./endpoint.js";
import { ApiError, invalid, issuesOf, type Reply } from "./http.js";
import {
  accountPatchSchema,
  accountPutSchema,
  accountView,
  accountViewSchema,
  apiKeySchema,
  groupBodySchema,
  groupSchema,
  pageSchema,
} from "./schemas.js";

export const ACCOUNT_COLUMNS = ["name", "createdAt", "updatedAt"];

/** `:name` is checked like an account name so a stray path fails as 400 rather than 404. */
export function accountNameParam(name: string | undefined): string {
  const result = accountNameSchema.safeParse(name);
  if (!result.success) throw invalid(issuesOf(result.error, "name"));
  return result.data;
}

async function loadAccount(store: { getAccount(name: string): Promise<Account | undefined> }, name: string) {
  const account = await store.getAccount(accountNameParam(name));
  if (!account) throw new ApiError("not_found", `no account named ${name}`);
  return account;
}

function storeConflict(error: unknown): never {
  if (error instanceof StoreError && error.code === "conflict") throw new ApiError("conflict", error.message);
  if (error instanceof StoreError && error.code === "invalid")
    throw invalid([{ field: "(body)", message: error.message }]);
  throw error;
}

/** RFC 7396: objects merge key by key, null removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

/**
 * The account after a PATCH. Settings are merged and validated like a PUT body;
 * the stored password hashes stay unless the patch brings new credentials.
 */
export async function patchedAccount(
  existing: Account,
  patch: Record<string, unknown>,
  now: number,
): Promise<Account> {
  if ("name" in patch && patch.name !== existing.name) {
    throw invalid([{ field: "name", message: "an account cannot be renamed; create a new one" }]);
  }
  for (const key of ["createdAt", "updatedAt"]) {
    if (key in patch) throw invalid([{ field: key, message: "set by the relay, not writable" }]);
  }
  const { credentials: storedCredentials, createdAt, updatedAt: _updatedAt, ...settings } = existing;
  const merged = mergePatch(settings, { ...patch, credentials: patch.credentials ?? [] }) as Record<
    string,
    unknown
  >;
  if (!("credentials" in merged)) merged.credentials = [];
  const parsed = accountInputSchema.safeParse(merged);
  if (!parsed.success) throw invalid(issuesOf(parsed.error));
  const credentials =
    patch.credentials === undefined ? storedCredentials : await hashCredentials(parsed.data.credentials);
  return accountSchema.parse({ ...parsed.data, credentials, createdAt, updatedAt: now });
}

const accountsTable = (accounts: Account[]): Reply => {
  const items = accounts.map(accountView);
  return {
    kind: "table",
    json: { items },
    rows: items,
    root: "accounts",
    row: "account",
    columns: ACCOUNT_COLUMNS,
  };
};

export const accountEndpoints: Endpoint[] = [
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts",
    access: "caller",
    tag: "accounts",
    summary: "List accounts (an API key sees only its own)",
    response: {
      status: 200,
      description: "accounts, sorted by name",
      schema: pageSchema(accountViewSchema),
      table: { root: "accounts", row: "account" },
    },
    async handle({ api, principal }) {
      if (principal.role === "admin") return accountsTable(await api.store.listAccounts());
      const own = principal.role === "account" ? await api.store.getAccount(principal.account) : undefined;
      return accountsTable(own ? [own] : []);
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name",
    access: "account",
    tag: "accounts",
    summary: "One account (no password hashes or DKIM keys)",
    response: { status: 200, description: "the account", schema: accountViewSchema },
    async handle({ api, params }) {
      return { kind: "json", body: accountView(await loadAccount(api.store, params.name ?? "")) };
    },
  }),
  defineEndpoint({
    method: "PUT",
    pattern: "/v1/accounts/:name",
    access: "admin",
    tag: "accounts",
    summary: "Create or replace an account",
    body: accountPutSchema,
    response: {
      status: 200,
      alsoStatus: 201,
      description: "the account as stored (201 when new)",
      schema: accountViewSchema,
    },
    async handle({ api, params, body }) {
      const name = accountNameParam(params.name);
      if (body.name !== undefined && body.name !== name) {
        throw invalid([{ field: "name", message: `must match the path (${name}) or be left out` }]);
      }
      const now = api.now();
      const existing = await api.store.getAccount(name);
      const account = accountSchema.parse({
        ...body,
        name,
        credentials: await hashCredentials(body.credentials),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      });
      await api.store.putAccount(account).catch(storeConflict);
      return { kind: "json", status: existing ? 200 : 201, body: accountView(account) };
    },
  }),
  defineEndpoint({
    method: "PATCH",
    pattern: "/v1/accounts/:name",
    access: "admin",
    tag: "accounts",
    summary: "Change some settings of an account (JSON merge patch)",
    body: accountPatchSchema,
    response: { status: 200, description: "the account as stored", schema: accountViewSchema },
    async handle({ api, params, body }) {
      const existing = await loadAccount(api.store, params.name ?? "");
      const account = await patchedAccount(existing, body, api.now());
      await api.store.putAccount(account).catch(storeConflict);
      return { kind: "json", body: accountView(account) };
    },
  }),
  defineEndpoint({
    method: "DELETE",
    pattern: "/v1/accounts/:name",
    access: "admin",
    tag: "accounts",
    summary: "Delete an account, its usernames and API keys",
    response: { status: 204, description: "deleted" },
    async handle({ api, params }) {
      if (!(await api.store.deleteAccount(accountNameParam(params.name)))) {
        throw new ApiError("not_found", `no account named ${params.name}`);
      }
      return { kind: "empty", status: 204 };
    },
  }),
  defineEndpoint({
    method: "POST",
    pattern: "/v1/accounts/:name/keys",
    access: "admin",
    tag: "accounts",
    summary: "Make an API key for the account (shown once)",
    response: { status: 201, description: "the new key", schema: apiKeySchema },
    async handle({ api, params }) {
      const account = await loadAccount(api.store, params.name ?? "");
      const { key, record } = newApiKey(account.name, api.now());
      await api.store.putApiKey(record);
      return {
        kind: "json",
        status: 201,
        body: { id: record.id, account: account.name, key, createdAt: record.createdAt },
      };
    },
  }),
  defineEndpoint({
    method: "DELETE",
    pattern: "/v1/accounts/:name/keys/:id",
    access: "account",
    tag: "accounts",
    summary: "Revoke an API key",
    response: { status: 204, description: "revoked" },
    async handle({ api, params }) {
      if (!(await api.store.deleteApiKey(accountNameParam(params.name), params.id ?? ""))) {
        throw new ApiError("not_found", "no such key for this account");
      }
      return { kind: "empty", status: 204 };
    },
  }),
  defineEndpoint({
    method: "POST",
    pattern: "/v1/accounts/:name/groups",
    access: "account",
    tag: "groups",
    summary: "Add a transactional group (AddTransactionalGroup); idempotent",
    body: groupBodySchema,
    response: {
      status: 201,
      alsoStatus: 200,
      description: "the group (200 when it existed)",
      schema: groupSchema,
    },
    async handle({ api, params, body }) {
      const account = await loadAccount(api.store, params.name ?? "");
      const { created } = await api.store.addGroup(account.name, body.name, api.now());
      const group = (await api.store.listGroups(account.name)).find((g) => g.name === body.name);
      return {
        kind: "json",
        status: created ? 201 : 200,
        body: group ?? { name: body.name, createdAt: api.now() },
      };
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name/groups",
    access: "account",
    tag: "groups",
    summary: "List the account's transactional groups",
    response: {
      status: 200,
      description: "groups, sorted by name",
      schema: pageSchema(groupSchema),
      table: { root: "groups", row: "group" },
    },
    async handle({ api, params }) {
      const items = await api.store.listGroups(accountNameParam(params.name));
      return {
        kind: "table",
        json: { items },
        rows: items,
        root: "groups",
        row: "group",
        columns: ["name", "createdAt"],
      };
    },
  }),
];
