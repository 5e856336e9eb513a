/**
 * Accounts, their SMTP usernames, and API keys (deleting an account also
 * deletes its webhooks, webhooks.ts).
 *
 * `usernames` indexes every credential's username to its account, so a
 * username belongs to at most one account (the primary key enforces it).
 */
import { z } from "zod";
import { accountForClient } from "../../accounts/match.js";
import { type Account, accountSchema } from "../../accounts/schema.js";
import type { ApiKeyRecord } from "../../vocabulary.js";
import { type Store, StoreError } from "../types.js";
import type { LocalContext } from "./context.js";
import { storedJson, storedValue, timeSchema, validInput } from "./validate.js";

type AccountOps = Pick<
  Store,
  | "putAccount"
  | "getAccount"
  | "listAccounts"
  | "deleteAccount"
  | "findAccountByUsername"
  | "findAccountByClient"
  | "putApiKey"
  | "findApiKey"
  | "deleteApiKey"
>;

const createdAtRow = z.object({ created_at: timeSchema });
const ownerRow = z.object({ account: z.string() });
const payloadRow = z.object({ payload: z.string() });

const apiKeySchema = z.object({
  id: z.string().min(1).max(256),
  account: z.string().min(1).max(253),
  hash: z.string().min(1).max(256),
  createdAt: timeSchema,
});
const apiKeyRow = z.object({ id: z.string(), account: z.string(), hash: z.string(), created_at: timeSchema });

export function accountOps({ db, changes }: LocalContext): AccountOps {
  /**
   * Parsed accounts for findAccountByClient, which runs on every SMTP
   * connection. This process is the database's only writer (the file is
   * locked exclusively), so dropping the copy on our own writes keeps it true.
   */
  let parsedAccounts: Account[] | undefined;

  function parseAccount(payload: unknown): Account {
    return storedJson(accountSchema, payload, "account");
  }

  function readAll(): Account[] {
    const rows = db.sql("SELECT payload FROM accounts ORDER BY name").all();
    return rows.map((row) => parseAccount(storedValue(payloadRow, row, "account row").payload));
  }

  function readOne(name: string): Account | undefined {
    const row = db.sql("SELECT payload FROM accounts WHERE name = ?").get(name);
    return row === undefined ? undefined : parseAccount(storedValue(payloadRow, row, "account row").payload);
  }

  function ownerOfUsername(username: string): string | undefined {
    const row = db.sql("SELECT account FROM usernames WHERE username = ?").get(username);
    return row === undefined ? undefined : storedValue(ownerRow, row, "username row").account;
  }

  return {
    async putAccount(input) {
      const account = validInput(accountSchema, input, "account");
      db.write(() => {
        const existing = db.sql("SELECT created_at FROM accounts WHERE name = ?").get(account.name);
        const createdAt =
          existing === undefined
            ? account.createdAt
            : storedValue(createdAtRow, existing, "account row").created_at;
        const usernames = new Set(account.credentials.map((c) => c.username));
        for (const username of usernames) {
          const owner = ownerOfUsername(username);
          if (owner !== undefined && owner !== account.name)
            throw new StoreError("conflict", `SMTP username "${username}" belongs to account "${owner}"`);
        }
        db.sql("DELETE FROM usernames WHERE account = ?").run(account.name);
        const insertUsername = db.sql("INSERT INTO usernames (username, account) VALUES (?, ?)");
        for (const username of usernames) insertUsername.run(username, account.name);
        db.sql(
          `INSERT INTO accounts (name, created_at, payload) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET payload = excluded.payload`,
        ).run(account.name, createdAt, JSON.stringify({ ...account, createdAt }));
      });
      parsedAccounts = undefined;
      changes.publish({ kind: "account", name: account.name });
    },

    async getAccount(name) {
      return db.read(() => readOne(name));
    },

    async listAccounts() {
      return db.read(readAll);
    },

    async deleteAccount(name) {
      const { existed, hadWebhooks } = db.write(() => {
        db.sql("DELETE FROM usernames WHERE account = ?").run(name);
        db.sql("DELETE FROM api_keys WHERE account = ?").run(name);
        const hooks = db.sql("DELETE FROM webhooks WHERE account = ?").run(name).changes;
        db.sql("DELETE FROM webhook_outbox WHERE account = ?").run(name);
        db.sql("DELETE FROM webhook_outbox_counts WHERE account = ?").run(name);
        const accounts = db.sql("DELETE FROM accounts WHERE name = ?").run(name).changes;
        return { existed: accounts > 0, hadWebhooks: hooks > 0 };
      });
      parsedAccounts = undefined;
      if (existed) changes.publish({ kind: "account", name });
      if (hadWebhooks) changes.publish({ kind: "webhooks", account: name });
      return existed;
    },

    async findAccountByUsername(username) {
      return db.read(() => {
        const owner = ownerOfUsername(username);
        if (owner === undefined) return undefined;
        const account = readOne(owner);
        const credential = account?.credentials.find((c) => c.username === username);
        if (account === undefined || credential === undefined) return undefined;
        return { account, passwordHash: credential.passwordHash };
      });
    },

    async findAccountByClient(ip, from) {
      const accounts = db.read(() => {
        parsedAccounts ??= readAll();
        return parsedAccounts;
      });
      const found = accountForClient(accounts, ip, from);
      // A copy: callers must not be able to change the cached account.
      return found === undefined ? undefined : structuredClone(found);
    },

    async putApiKey(input) {
      const key = validInput(apiKeySchema, input, "API key");
      db.write(() => {
        const holder = db.sql("SELECT account, id FROM api_keys WHERE hash = ?").get(key.hash);
        if (holder !== undefined) {
          const { account, id } = storedValue(
            z.object({ account: z.string(), id: z.string() }),
            holder,
            "API key",
          );
          if (account !== key.account || id !== key.id)
            throw new StoreError("conflict", "this API key hash is already in use");
        }
        db.sql(
          `INSERT INTO api_keys (account, id, hash, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (account, id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at`,
        ).run(key.account, key.id, key.hash, key.createdAt);
      });
    },

    async findApiKey(hash) {
      return db.read(() => {
        const row = db.sql("SELECT id, account, hash, created_at FROM api_keys WHERE hash = ?").get(hash);
        if (row === undefined) return undefined;
        const stored = storedValue(apiKeyRow, row, "API key");
        const record: ApiKeyRecord = {
          id: stored.id,
          account: stored.account,
          hash: stored.hash,
          createdAt: stored.created_at,
        };
        return record;
      });
    },

    async deleteApiKey(account, id) {
      return db.write(
        () => db.sql("DELETE FROM api_keys WHERE account = ? AND id = ?").run(account, id).changes > 0,
      );
    },
  };
}
