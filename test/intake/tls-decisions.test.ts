import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startupBanner } from "../../relay/banner.js";
import { authPolicy, isLoopbackHost } from "../../relay/intake/auth-policy.js";
import {
  checkTlsMaterial,
  readTlsMaterial,
  type TlsMaterial,
  TlsMaterialError,
  watchTlsMaterial,
} from "../../relay/intake/tls.js";
import { secretVolume } from "../support/secret-volume.js";
import { tempDir } from "../support/temp-dir.js";
import { createTestCa } from "../support/test-ca.js";

describe("authPolicy", () => {
  const strict = { insecureAuth: false };

  it("keeps AUTH for TLS on every listener that is not loopback", () => {
    for (const host of [
      "0.0.0.0",
      "::",
      "192.0.2.2",
      "10.1.2.3",
      "fd00::2",
      "relay.example.com",
      "128.0.0.1",
    ]) {
      expect(authPolicy({ host }, false, strict), host).toBe("tls_first");
      expect(authPolicy({ host }, true, strict), host).toBe("offer");
    }
  });

  it("offers AUTH at once on loopback listeners, as before", () => {
    for (const host of ["127.0.0.1", "127.0.1.7", "::1", "localhost", "::ffff:127.0.0.1"]) {
      expect(authPolicy({ host }, false, strict), host).toBe("offer");
    }
  });

  it("keeps AUTH for TLS on loopback too with intake.plainAuthOnLoopback: false (a fleet relay)", () => {
    const fleet = { insecureAuth: false, plainAuthOnLoopback: false };
    for (const host of ["127.0.0.1", "127.0.4.9", "::1", "localhost"]) {
      expect(authPolicy({ host }, false, fleet), host).toBe("tls_first");
      expect(authPolicy({ host }, true, fleet), host).toBe("offer");
    }
  });

  it("lets intake.insecureAuth open AUTH without TLS anywhere", () => {
    expect(authPolicy({ host: "0.0.0.0" }, false, { insecureAuth: true })).toBe("offer");
  });

  it("knows loopback from addresses that only look like it", () => {
    expect(isLoopbackHost("127.255.255.254")).toBe(true);
    expect(isLoopbackHost("LOCALHOST")).toBe(true);
    expect(isLoopbackHost("0:0:0:0:0:0:0:1")).toBe(true);
    expect(isLoopbackHost("127.example.com")).toBe(false);
    expect(isLoopbackHost("::ffff:10.0.0.1")).toBe(false);
    expect(isLoopbackHost("")).toBe(false);
  });
});

describe("certificate checks", () => {
  it("accepts a matching pair and reports its expiry and fingerprint", async () => {
    const ca = await createTestCa();
    const issued = await ca.issue("relay.test", { days: 10 });
    const material = readTlsMaterial(issued);
    const expected = Date.now() + 10 * 86_400_000;
    expect(Math.abs(material.notAfter.getTime() - expected)).toBeLessThan(86_400_000);
    expect(material.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it("refuses a key of another certificate, garbage and missing files, naming the file and never the key", async () => {
    const ca = await createTestCa();
    const one = await ca.issue("relay.test");
    const two = await ca.issue("relay.test");
    const keyText = await readFile(two.key, "utf8");
    const mismatch = (() => {
      try {
        readTlsMaterial({ cert: one.cert, key: two.key });
      } catch (error) {
        return error;
      }
    })();
    expect(mismatch).toBeInstanceOf(TlsMaterialError);
    expect((mismatch as TlsMaterialError).message).toBe(
      `tls.key ${two.key}: the key does not match the certificate in ${one.cert}`,
    );
    const files = { cert: "/etc/tls/tls.crt", key: "/etc/tls/tls.key" };
    expect(() => checkTlsMaterial(Buffer.from("not a cert"), Buffer.from(keyText), files)).toThrow(
      "tls.cert /etc/tls/tls.crt: no PEM certificate in the file",
    );
    const brokenPem = Buffer.from("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(() => checkTlsMaterial(brokenPem, Buffer.from(keyText), files)).toThrow(
      "tls.cert /etc/tls/tls.crt: the certificate cannot be parsed",
    );
    const keyBody = keyText.split("\n")[1] as string;
    const garbageKey = Buffer.from(
      `-----BEGIN PRIVATE KEY-----\n${keyBody.slice(0, 20)}\n-----END PRIVATE KEY-----\n`,
    );
    const error = (() => {
      try {
        checkTlsMaterial(Buffer.from(one.pem), garbageKey, files);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toBe("tls.key /etc/tls/tls.key: no usable PEM private key in the file");
    expect(error?.message).not.toContain(keyBody.slice(0, 20));
    expect(() => readTlsMaterial({ cert: "/nonexistent/tls.crt", key: two.key })).toThrow(
      "tls.cert /nonexistent/tls.crt: cannot read the file (ENOENT)",
    );
  });
});

describe("watchTlsMaterial", () => {
  async function renewalScene(watch: boolean) {
    const ca = await createTestCa();
    const dir = await tempDir();
    const volume = await secretVolume(join(dir, "secret"));
    const first = await ca.issue("relay.test", { days: 30 });
    await volume.publish({ cert: first.pem, key: await readFile(first.key) });
    const reloads: TlsMaterial[] = [];
    const failures: TlsMaterialError[] = [];
    const watcher = watchTlsMaterial({
      files: volume,
      current: readTlsMaterial(volume),
      onReload: (material) => reloads.push(material),
      onFailure: (error) => failures.push(error),
      pollMs: 200,
      watch,
    });
    return { ca, volume, reloads, failures, watcher, first };
  }

  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  for (const watch of [true, false]) {
    it(`takes a renewed pair and refuses a bad one once (${watch ? "watching" : "polling only"})`, async () => {
      const { ca, volume, reloads, failures, watcher, first } = await renewalScene(watch);
      try {
        const second = await ca.issue("relay.test", { days: 60 });
        await volume.publish({ cert: second.pem, key: await readFile(second.key) });
        await until(() => reloads.length === 1, "the renewal");
        expect(reloads[0]?.cert.toString()).toBe(second.pem);
        // A key of another certificate: refused, and not counted again on later polls.
        await volume.publish({ cert: second.pem, key: await readFile(first.key) });
        await until(() => failures.length === 1, "the refusal");
        expect(failures[0]?.message).toContain("does not match");
        await new Promise((resolve) => setTimeout(resolve, 800));
        expect(failures).toHaveLength(1);
        expect(reloads).toHaveLength(1);
        // Files gone (a Secret deleted): one failure; back to a good pair: taken.
        await rm(join(volume.cert, "..", "..data"));
        await until(() => failures.length === 2, "the unreadable files");
        expect(failures[1]?.message).toMatch(/cannot read the file \(ENOENT\)/);
        const third = await ca.issue("relay.test", { days: 90 });
        await volume.publish({ cert: third.pem, key: await readFile(third.key) });
        await until(() => reloads.length === 2, "the second renewal");
        expect(reloads[1]?.cert.toString()).toBe(third.pem);
      } finally {
        watcher.close();
      }
    });
  }

  it("ignores a rewrite with the same contents", async () => {
    const { volume, reloads, failures, watcher, first } = await renewalScene(true);
    try {
      await volume.publish({ cert: first.pem, key: await readFile(first.key) });
      await writeFile(join(volume.cert, "..", "unrelated"), "x");
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(reloads).toEqual([]);
      expect(failures).toEqual([]);
    } finally {
      watcher.close();
    }
  });
});

describe("startupBanner", () => {
  const facts = {
    smtp: "0.0.0.0:2525",
    api: { host: "0.0.0.0", port: 8081 },
    metrics: { host: "0.0.0.0", port: 9464 },
    apiToken: "tok-0123456789abcdef",
    apiTokenFile: "/var/lib/relayfleet/api-token",
    demo: { username: "demo", password: "pw-0123456789" },
    demoPasswordFile: "/var/lib/relayfleet/demo-password",
  };

  it("names the files holding generated secrets when not on a terminal (pod logs)", () => {
    const text = startupBanner(facts, false).join("\n");
    expect(text).toContain("API token: generated, in /var/lib/relayfleet/api-token");
    expect(text).toContain("password in /var/lib/relayfleet/demo-password");
    expect(text).not.toContain(facts.apiToken);
    expect(text).not.toContain(facts.demo.password);
  });

  it("shows them on a terminal, for npm start by hand", () => {
    const text = startupBanner(facts, true).join("\n");
    expect(text).toContain(`API token: ${facts.apiToken} (kept in /var/lib/relayfleet/api-token)`);
    expect(text).toContain(`password ${facts.demo.password}`);
  });

  it("never prints a token that came from config", () => {
    const { apiTokenFile: _file, ...configured } = facts;
    for (const interactive of [true, false])
      expect(startupBanner(configured, interactive).join("\n")).not.toContain(facts.apiToken);
  });
});
