/** Store contract: accounts, SMTP usernames, client matching and API keys. */
import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "../../relay/accounts/credentials.js";
import { StoreError } from "../../relay/store/types.js";
import type { StoreHarness } from "./contract-harness.js";
import { account, HOUR } from "./fixtures.js";

export function describeAccountContract(harness: StoreHarness): void {
  describe("accounts", () => {
    it("stores an account and reads it back as written", async () => {
      const store = await harness.open();
      const acme = account("acme", {
        allowedIps: ["203.0.113.0/24"],
        allowedFrom: ["*@acme.com"],
        limits: { perHour: 100, perDay: 1000, perMonth: 0, overageAllowed: true },
        notify: { accountManager: "ops@acme.com", toAccountManager: true, toFrom: false },
        route: "mail/marathon",
        lane: "dedicated",
        weight: 5,
      });
      await store.putAccount(acme);
      expect(await store.getAccount("acme")).toEqual(acme);
      expect(await store.getAccount("nobody")).toBeUndefined();
    });

    it("replaces an account on put but keeps its createdAt", async () => {
      const store = await harness.open();
      const created = Date.now() - 10 * HOUR;
      await store.putAccount(account("acme", { wrapColumn: 76 }, { createdAt: created }));
      const replacement = account(
        "acme",
        { wrapColumn: 0, allowedFrom: ["*@acme.org"] },
        { createdAt: Date.now(), updatedAt: Date.now() },
      );
      await store.putAccount(replacement);
      expect(await store.getAccount("acme")).toEqual({ ...replacement, createdAt: created });
    });

    it("lists accounts sorted by name", async () => {
      const store = await harness.open();
      expect(await store.listAccounts()).toEqual([]);
      for (const name of ["zeta", "alpha", "mid-1", "beta"]) await store.putAccount(account(name));
      expect((await store.listAccounts()).map((a) => a.name)).toEqual(["alpha", "beta", "mid-1", "zeta"]);
    });

    it("finds an account by SMTP username with a hash that verifies the password", async () => {
      const store = await harness.open();
      const [first, second] = await Promise.all([hashPassword("s3cret"), hashPassword("other-pass")]);
      const acme = account("acme", {
        credentials: [
          { username: "acme", passwordHash: first },
          { username: "acme-alerts", passwordHash: second },
        ],
      });
      await store.putAccount(acme);

      const found = await store.findAccountByUsername("acme");
      expect(found?.account).toEqual(acme);
      expect(found?.passwordHash).toBe(first);
      expect(await verifyPassword("s3cret", found?.passwordHash ?? "")).toBe(true);
      expect(await verifyPassword("wrong", found?.passwordHash ?? "")).toBe(false);

      const alerts = await store.findAccountByUsername("acme-alerts");
      expect(alerts?.account.name).toBe("acme");
      expect(await verifyPassword("other-pass", alerts?.passwordHash ?? "")).toBe(true);

      expect(await store.findAccountByUsername("nobody")).toBeUndefined();
    });

    it("refuses a username that belongs to another account with a conflict, changing nothing", async () => {
      const store = await harness.open();
      const hash = await hashPassword("pw");
      const acme = account("acme", { credentials: [{ username: "shared", passwordHash: hash }] });
      await store.putAccount(acme);

      const beta = account("beta", {
        credentials: [
          { username: "beta", passwordHash: hash },
          { username: "shared", passwordHash: hash },
        ],
      });
      const failure = await store.putAccount(beta).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StoreError);
      expect((failure as StoreError).code).toBe("conflict");

      expect(await store.getAccount("beta")).toBeUndefined();
      expect(await store.findAccountByUsername("beta")).toBeUndefined();
      expect((await store.findAccountByUsername("shared"))?.account.name).toBe("acme");
      // Re-putting an account with its own usernames is no conflict.
      await store.putAccount(acme);
    });

    it("lets only one of two accounts racing for a username have it", async () => {
      const { writer, peer } = await harness.openPair();
      const hash = await hashPassword("pw");
      const credentials = [{ username: "contested", passwordHash: hash }];
      const results = await Promise.allSettled([
        writer.putAccount(account("acme", { credentials })),
        peer.putAccount(account("beta", { credentials })),
      ]);
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i === 0 ? "acme" : "beta"] : []));
      const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect((lost[0] as StoreError).code).toBe("conflict");
      expect((await writer.findAccountByUsername("contested"))?.account.name).toBe(won[0]);
      expect((await writer.listAccounts()).map((a) => a.name)).toEqual(won);
    });

    it("moves usernames with a replaced account, freeing the old ones", async () => {
      const store = await harness.open();
      const hash = await hashPassword("pw");
      await store.putAccount(
        account("acme", { credentials: [{ username: "old-name", passwordHash: hash }] }),
      );
      await store.putAccount(
        account("acme", { credentials: [{ username: "new-name", passwordHash: hash }] }),
      );

      expect(await store.findAccountByUsername("old-name")).toBeUndefined();
      expect((await store.findAccountByUsername("new-name"))?.account.name).toBe("acme");
      await store.putAccount(
        account("beta", { credentials: [{ username: "old-name", passwordHash: hash }] }),
      );
      expect((await store.findAccountByUsername("old-name"))?.account.name).toBe("beta");
    });

    it("deletes an account with its usernames and API keys", async () => {
      const store = await harness.open();
      const hash = await hashPassword("pw");
      await store.putAccount(account("acme", { credentials: [{ username: "acme", passwordHash: hash }] }));
      await store.putAccount(account("beta"));
      await store.putApiKey({ id: "k1", account: "acme", hash: "a".repeat(64), createdAt: Date.now() });
      await store.putApiKey({ id: "k2", account: "beta", hash: "b".repeat(64), createdAt: Date.now() });

      expect(await store.deleteAccount("acme")).toBe(true);
      expect(await store.getAccount("acme")).toBeUndefined();
      expect(await store.findAccountByUsername("acme")).toBeUndefined();
      expect(await store.findApiKey("a".repeat(64))).toBeUndefined();
      expect((await store.listAccounts()).map((a) => a.name)).toEqual(["beta"]);
      expect((await store.findApiKey("b".repeat(64)))?.account).toBe("beta");

      expect(await store.deleteAccount("acme")).toBe(false);
      // The username is free again.
      await store.putAccount(account("gamma", { credentials: [{ username: "acme", passwordHash: hash }] }));
      expect((await store.findAccountByUsername("acme"))?.account.name).toBe("gamma");
    });
  });

  describe("findAccountByClient", () => {
    it("matches the client IP against v4 and v6 CIDR ranges and the sender against allowedFrom", async () => {
      const store = await harness.open();
      await store.putAccount(
        account("acme", { allowedIps: ["203.0.113.0/24", "2001:db8::/32"], allowedFrom: ["*@acme.com"] }),
      );
      await store.putAccount(
        account("beta", { allowedIps: ["10.0.0.7"], allowedFrom: ["alerts@beta.io", "*@*.beta.io"] }),
      );
      const match = async (ip: string, from: string) => (await store.findAccountByClient(ip, from))?.name;

      expect(await match("203.0.113.9", "news@acme.com")).toBe("acme");
      expect(await match("203.0.113.255", "News@ACME.com")).toBe("acme");
      expect(await match("::ffff:203.0.113.9", "news@acme.com")).toBe("acme");
      expect(await match("2001:db8::25", "news@acme.com")).toBe("acme");
      expect(await match("2001:db8:ffff::1", "news@acme.com")).toBe("acme");
      expect(await match("203.0.114.1", "news@acme.com")).toBeUndefined();
      expect(await match("2001:db9::1", "news@acme.com")).toBeUndefined();
      expect(await match("203.0.113.9", "news@acme.org")).toBeUndefined();
      expect(await match("203.0.113.9", "news@sub.acme.com")).toBeUndefined();

      expect(await match("10.0.0.7", "alerts@beta.io")).toBe("beta");
      expect(await match("10.0.0.7", "news@beta.io")).toBeUndefined();
      expect(await match("10.0.0.7", "news@mail.beta.io")).toBe("beta");
      expect(await match("10.0.0.8", "alerts@beta.io")).toBeUndefined();
      expect(await match("10.0.0.7", "alerts@acme.com")).toBeUndefined();
    });

    it("never matches an account without allowedIps, and picks the first match by name", async () => {
      const store = await harness.open();
      await store.putAccount(account("open-sender", { allowedFrom: ["*"] }));
      expect(await store.findAccountByClient("192.0.2.1", "x@example.com")).toBeUndefined();

      await store.putAccount(account("b-second", { allowedIps: ["192.0.2.0/24"], allowedFrom: ["*"] }));
      await store.putAccount(
        account("a-first", { allowedIps: ["192.0.2.1"], allowedFrom: ["*@example.com"] }),
      );
      expect((await store.findAccountByClient("192.0.2.1", "x@example.com"))?.name).toBe("a-first");
      expect((await store.findAccountByClient("192.0.2.1", "x@example.net"))?.name).toBe("b-second");
    });

    it("follows account changes and deletions", async () => {
      const store = await harness.open();
      await store.putAccount(
        account("acme", { allowedIps: ["198.51.100.0/24"], allowedFrom: ["*@acme.com"] }),
      );
      expect((await store.findAccountByClient("198.51.100.4", "a@acme.com"))?.name).toBe("acme");

      await store.putAccount(
        account("acme", { allowedIps: ["198.51.101.0/24"], allowedFrom: ["*@acme.com"] }),
      );
      expect(await store.findAccountByClient("198.51.100.4", "a@acme.com")).toBeUndefined();
      expect((await store.findAccountByClient("198.51.101.4", "a@acme.com"))?.name).toBe("acme");

      await store.deleteAccount("acme");
      expect(await store.findAccountByClient("198.51.101.4", "a@acme.com")).toBeUndefined();
    });
  });

  describe("API keys", () => {
    it("stores a key, finds it by hash, and deletes it only for its own account", async () => {
      const store = await harness.open();
      const key = {
        id: "key-1",
        account: "acme",
        hash: "c0ffee".repeat(10).padEnd(64, "0"),
        createdAt: 1_000,
      };
      await store.putApiKey(key);
      expect(await store.findApiKey(key.hash)).toEqual(key);
      expect(await store.findApiKey("f".repeat(64))).toBeUndefined();

      expect(await store.deleteApiKey("beta", "key-1")).toBe(false);
      expect(await store.findApiKey(key.hash)).toEqual(key);

      expect(await store.deleteApiKey("acme", "key-1")).toBe(true);
      expect(await store.findApiKey(key.hash)).toBeUndefined();
      expect(await store.deleteApiKey("acme", "key-1")).toBe(false);
    });
  });
}
