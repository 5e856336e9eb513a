/**
 * AUTH and connection limits against clients that spread themselves out
 * (HOSTILE-INPUTS rows 15 and 25): many addresses of one IPv6 /64, one
 * username from many addresses, unknown usernames; and the customer's own
 * servers, which the per-IP connection cap must not throttle. Client
 * addresses other than loopback come in through the PROXY protocol from a
 * trusted "balancer" (the test itself), as behind a real load balancer.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { hashPassword, verifyPassword } from "../../relay/accounts/credentials.js";
import { AccountDirectory, hashToVerify } from "../../relay/intake/accounts.js";
import { authFailureKeys, authFailureVerdict } from "../../relay/intake/auth-limits.js";
import { clientKey } from "../../relay/limits/client-key.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import { openRedisStore } from "../../relay/store/redis/index.js";
import type { Store } from "../../relay/store/types.js";
import { putAccount, startTestIntake, type TestIntake } from "../support/intake.js";
import { type RawSmtp, rawSmtp } from "../support/smtp-client.js";
import { tempDir } from "../support/temp-dir.js";

const acme = {
  name: "acme",
  credentials: [
    { username: "u", password: "right-password" },
    { username: "v", password: "other-password" },
  ],
  allowedFrom: ["*@acme.test"],
};

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

/** A session as seen from `client` (PROXY protocol from the trusted loopback balancer). */
async function sessionFrom(relay: TestIntake, client: string): Promise<RawSmtp> {
  const smtp = await rawSmtp(relay.port);
  onTestFinished(() => smtp.close());
  const family = client.includes(":") ? "TCP6" : "TCP4";
  const server = family === "TCP6" ? "2001:db8::25" : "192.0.2.25";
  smtp.send(`PROXY ${family} ${client} ${server} 40000 25\r\n`);
  expect(await smtp.reply(10_000)).toMatch(/^220 /);
  expect(await smtp.command("EHLO client.test", 10_000)).toMatch(/^250/);
  return smtp;
}

async function authFrom(relay: TestIntake, client: string, user: string, pass: string): Promise<string> {
  const smtp = await sessionFrom(relay, client);
  const reply = await smtp.command(`AUTH PLAIN ${plain(user, pass)}`, 10_000);
  smtp.close();
  return reply;
}

describe("client keys", () => {
  it("make an IPv6 /64 one client, however it is spelled; IPv4 and mapped IPv4 stay one address", () => {
    expect(clientKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:DB8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:0db8:0001:0002:0:0:0:9")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientKey("2001:db8:1:3::1")).not.toBe(clientKey("2001:db8:1:2::1"));
    expect(clientKey("198.51.100.7")).toBe("198.51.100.7");
    expect(clientKey("::ffff:198.51.100.7")).toBe("198.51.100.7");
    expect(clientKey("not an ip")).toBe("not an ip");
    expect(clientKey("64:ff9b::198.51.100.7")).toBe("64:ff9b:0:0::/64");
    expect(clientKey("2001:db8:1:2::198.51.100.7")).toBe("2001:db8:1:2::/64");
  });

  it("count AUTH failures per client and per username, the username hashed to a bounded key", () => {
    const a = authFailureKeys("2001:db8:1:2::1", "u");
    const b = authFailureKeys("2001:db8:1:2::abcd", "U");
    expect(a.client).toBe(b.client);
    expect(a.username).not.toBe(b.username);
    expect(authFailureKeys("198.51.100.7", "x".repeat(10_000)).username.length).toBeLessThan(40);
  });
});

describe("the AUTH failure verdict", () => {
  const limits = { perConnection: 3, perClient: 20, perUsername: 50 };
  it("waits longer with each recent failure from the client or for the username, capped at 10×", () => {
    expect(authFailureVerdict({ connection: 1, client: 1, username: 1 }, limits, 1000)).toEqual({
      kind: "retry",
      delayMs: 0,
    });
    expect(authFailureVerdict({ connection: 1, client: 2, username: 7 }, limits, 1000)).toEqual({
      kind: "retry",
      delayMs: 6000,
    });
    expect(authFailureVerdict({ connection: 1, client: 1, username: 40 }, limits, 1000).delayMs).toBe(10_000);
  });

  it("closes at the per-connection or per-client limit, locks the username at its own", () => {
    expect(authFailureVerdict({ connection: 3, client: 3, username: 3 }, limits, 0).kind).toBe("close");
    expect(authFailureVerdict({ connection: 1, client: 20, username: 3 }, limits, 0).kind).toBe("close");
    expect(authFailureVerdict({ connection: 1, client: 1, username: 50 }, limits, 0).kind).toBe(
      "user_locked",
    );
  });
});

describe("AUTH limits over the wire", () => {
  it("counts failures from many addresses of one /64 as one client", async () => {
    const relay = await startTestIntake({
      accounts: [acme],
      intake: { proxyProtocolFrom: ["127.0.0.1"], maxAuthFailuresPerConnection: 3, maxAuthFailuresPerIp: 4 },
    });
    for (let i = 1; i <= 3; i++) {
      expect(await authFrom(relay, `2001:db8:1:2::${i}`, "u", `guess${i}`)).toMatch(/^535 5\.7\.8 /);
    }
    expect(await authFrom(relay, "2001:db8:1:2::4", "u", "guess4")).toMatch(/^421 4\.7\.0 /);
    // Any other address of the /64 is now refused, even with the right password ...
    expect(await authFrom(relay, "2001:db8:1:2:ffff::9", "u", "right-password")).toMatch(/^421 4\.7\.0 /);
    // ... while the next /64 is another client.
    expect(await authFrom(relay, "2001:db8:1:3::1", "u", "right-password")).toMatch(/^235 /);
  });

  it("locks one username guessed from many addresses, and only that username", async () => {
    const relay = await startTestIntake({
      accounts: [acme],
      intake: { proxyProtocolFrom: ["127.0.0.1"], maxAuthFailuresPerIp: 100, maxAuthFailuresPerUsername: 4 },
    });
    for (let i = 1; i <= 3; i++) {
      expect(await authFrom(relay, `198.51.100.${i}`, "u", `guess${i}`)).toMatch(/^535 5\.7\.8 /);
    }
    expect(await authFrom(relay, "198.51.100.4", "u", "guess4")).toMatch(/^454 4\.7\.0 /);
    expect(await authFrom(relay, "198.51.100.5", "u", "right-password")).toMatch(/^454 4\.7\.0 /);
    // Unknown usernames are counted the same way, so guessing names is limited too.
    for (let i = 1; i <= 3; i++) {
      expect(await authFrom(relay, `203.0.113.${i}`, "nobody", "pw")).toMatch(/^535 5\.7\.8 /);
    }
    expect(await authFrom(relay, "203.0.113.4", "nobody", "pw")).toMatch(/^454 4\.7\.0 /);
    // The other username of the account, from an address that failed for "u", still works.
    expect(await authFrom(relay, "198.51.100.5", "v", "other-password")).toMatch(/^235 /);
    const rejections = await relay.metrics.rejections.get();
    const locked = rejections.values.find((v) => v.labels.reason === "auth_user_rate_limited");
    expect(locked?.value).toBe(1);
  });

  it("counts a username's failures fleet-wide: failures at one relay lock it at another", async () => {
    const prefix = `t${randomUUID()}:`;
    const stores = await Promise.all([1, 2].map(() => openRedisStore({ url: inject("redisUrl"), prefix })));
    onTestFinished(async () => {
      await Promise.all(stores.map((store) => store.close()));
    });
    const [first, second] = stores as [Store, Store];
    await putAccount(first, acme);
    const intake = { proxyProtocolFrom: ["127.0.0.1"], maxAuthFailuresPerUsername: 3 };
    const one = await startTestIntake({ store: first, intake });
    const two = await startTestIntake({ store: second, intake });
    expect(await authFrom(one, "198.51.100.1", "u", "guess1")).toMatch(/^535 5\.7\.8 /);
    expect(await authFrom(one, "198.51.100.2", "u", "guess2")).toMatch(/^535 5\.7\.8 /);
    // The second relay has seen nothing from these clients, but the Store has.
    expect(await authFrom(two, "198.51.100.3", "u", "guess3")).toMatch(/^454 4\.7\.0 /);
    expect(await authFrom(two, "198.51.100.4", "u", "right-password")).toMatch(/^454 4\.7\.0 /);
    expect(await authFrom(two, "198.51.100.4", "v", "other-password")).toMatch(/^235 /);
  });

  it("refuses a locked username in the same connection without closing it", async () => {
    const relay = await startTestIntake({
      accounts: [acme],
      intake: { proxyProtocolFrom: ["127.0.0.1"], maxAuthFailuresPerUsername: 1 },
    });
    const smtp = await sessionFrom(relay, "198.51.100.9");
    expect(await smtp.command(`AUTH PLAIN ${plain("u", "guess")}`)).toMatch(/^454 4\.7\.0 /);
    expect(await smtp.command(`AUTH PLAIN ${plain("v", "other-password")}`)).toMatch(/^235 /);
  });
});

describe("unknown usernames cost a known user's scrypt", () => {
  it("verifies against a dummy hash with the same parameters when the username is unknown", async () => {
    const dummy = await hashPassword("nobody knows this");
    const known = { passwordHash: await hashPassword("secret") };
    expect(hashToVerify(undefined, dummy)).toBe(dummy);
    expect(hashToVerify(known, dummy)).toBe(known.passwordHash);
    const parameters = (hash: string) => hash.split("$").slice(0, 4).join("$");
    expect(parameters(dummy)).toBe(parameters(known.passwordHash));
  });

  it("takes the same scrypt call for an unknown username as for a wrong password", async () => {
    const store = await openLocalStore({ dir: await tempDir() });
    onTestFinished(() => store.close());
    await putAccount(store, acme);
    const checked: string[] = [];
    const directory = new AccountDirectory(store, 60_000, Date.now, async (password, hash) => {
      checked.push(hash);
      return verifyPassword(password, hash);
    });
    expect(await directory.authenticate("u", "wrong")).toBeUndefined();
    expect(await directory.authenticate("nobody", "wrong")).toBeUndefined();
    expect(await directory.authenticate("u", "right-password")).toMatchObject({ name: "acme" });
    expect(checked).toHaveLength(3);
    const [wrongPassword, unknownUser] = checked as [string, string];
    expect(unknownUser).not.toBe(wrongPassword);
    expect(unknownUser.split("$").slice(0, 4)).toEqual(wrongPassword.split("$").slice(0, 4));
    // A real scrypt run, not a shortcut: the dummy hash is well formed and simply never matches.
    expect(await verifyPassword("wrong", unknownUser)).toBe(false);
  });
});

describe("the per-IP connection cap", () => {
  it("accepts 60 connections from a client in an account's allowedIps while a stranger is capped", async () => {
    const relay = await startTestIntake({
      accounts: [{ name: "office", allowedIps: ["127.0.0.2"], allowedFrom: ["*@office.test"] }],
      intake: { maxConnectionsPerIp: 5 },
    });
    const pool = await Promise.all(
      Array.from({ length: 60 }, () => rawSmtp(relay.port, { localAddress: "127.0.0.2" })),
    );
    onTestFinished(() => {
      for (const smtp of pool) smtp.close();
    });
    const banners = await Promise.all(pool.map((smtp) => smtp.reply(20_000)));
    expect(banners.filter((banner) => banner.startsWith("220 "))).toHaveLength(60);
    // The pool is still usable: every connection is a working session.
    expect(await pool[59]?.command("EHLO app.office.test")).toMatch(/^250/);
    const stranger: RawSmtp[] = [];
    onTestFinished(() => {
      for (const smtp of stranger) smtp.close();
    });
    for (let i = 0; i < 5; i++) {
      const smtp = await rawSmtp(relay.port, { localAddress: "127.0.0.1" });
      stranger.push(smtp);
      expect(await smtp.reply(10_000)).toMatch(/^220 /);
    }
    const sixth = await rawSmtp(relay.port, { localAddress: "127.0.0.1" });
    stranger.push(sixth);
    expect(await sixth.reply(10_000)).toMatch(/^421 4\.7\.0 Too many connections/);
    expect(relay.intake.activeConnections).toBe(65);
  });

  it("counts the addresses of one IPv6 /64 as one client, and frees the slot when one closes", async () => {
    const relay = await startTestIntake({
      accounts: [],
      intake: { proxyProtocolFrom: ["127.0.0.1"], maxConnectionsPerIp: 2 },
    });
    const first = await sessionFrom(relay, "2001:db8:5:6::1");
    await sessionFrom(relay, "2001:db8:5:6::2");
    const third = await rawSmtp(relay.port);
    onTestFinished(() => third.close());
    third.send("PROXY TCP6 2001:db8:5:6::3 2001:db8::25 40000 25\r\n");
    expect(await third.reply(10_000)).toMatch(/^421 4\.7\.0 /);
    await sessionFrom(relay, "2001:db8:5:7::1");
    first.close();
    await first.closed;
    await expect
      .poll(
        async () => {
          const again = await rawSmtp(relay.port);
          again.send("PROXY TCP6 2001:db8:5:6::4 2001:db8::25 40000 25\r\n");
          const reply = await again.reply(10_000);
          again.close();
          return reply.slice(0, 4);
        },
        { timeout: 10_000 },
      )
      .toBe("220 ");
  });
});
