import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../test/support/temp-dir.js";
import { ConfigError, loadConfig } from "./load.js";

async function configFile(text: string): Promise<string> {
  const file = join(await tempDir(), "relay.yaml");
  await writeFile(file, text);
  return file;
}

async function problems(text: string, env: Record<string, string> = {}): Promise<string[]> {
  const error = await loadConfig({ file: await configFile(text), env }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).problems;
}

describe("loadConfig", () => {
  it("gives a bare machine loopback listeners, the embedded store and full processing", async () => {
    const config = await loadConfig({ env: {} });
    expect(config.listen).toEqual({
      smtp: ["127.0.0.1:2525"],
      smtps: [],
      tracking: "127.0.0.1:8080",
      api: "127.0.0.1:8081",
      metrics: "127.0.0.1:9464",
    });
    expect(config.store.redis).toBeUndefined();
    expect(config.dataDir).toBe("./.relayfleet");
    expect(config.maxMessageBytes).toBe(104_857_600);
    expect(config.mode).toBe("full");
  });

  it("reads the contract's example keys, with account and route defaults filled in", async () => {
    const config = await loadConfig({
      env: {},
      file: await configFile(`
hostname: relay.example.com
listen: { smtp: ["0.0.0.0:25", "[::]:2525"], api: ":8081" }
store: { redis: "redis://127.0.0.1:6379/0" }
mode: passthrough
routes:
  default:
    policy: failover
    senders:
      - { name: out1, host: 127.0.0.1, port: 2600 }
      - { name: out2, mx: true, localAddress: 127.0.0.3 }
    domains:
      - { match: ["hotmail.com", "outlook.com"], senders: [out2] }
accounts:
  - name: acme
    credentials: [{ username: acme, password: "s3cret" }]
    allowedIps: ["203.0.113.0/24"]
    allowedFrom: ["*@acme.com"]
`),
    });
    expect(config.hostname).toBe("relay.example.com");
    expect(config.routes.default?.senders[1]).toMatchObject({ name: "out2", mx: true, port: 25 });
    expect(config.accounts[0]).toMatchObject({
      name: "acme",
      wrapColumn: 76,
      suppression: "notify",
      lane: "shared",
    });
  });

  it("names an unknown key, what was expected there, and the likely intended key", async () => {
    const found = await problems("listen:\n  smpt: ['0.0.0.0:25']\n");
    expect(found).toEqual([
      'unknown key "listen.smpt" (did you mean "smtp"?); expected one of: smtp, smtps, tracking, api, metrics',
    ]);
  });

  it("names mistyped values with what was given, all problems at once", async () => {
    const found = await problems(`
maxMessageBytes: "big"
accounts:
  - name: acme
    allowedIps: ["203.0.113.0/33"]
routes:
  default:
    senders: [{ name: out1, host: a.example }]
    domains: [{ match: [x.com], senders: [nope] }]
`);
    expect(found).toContain('maxMessageBytes: Invalid input: expected number, received string (got "big")');
    expect(found).toContain(
      'accounts[0].allowedIps[0]: an IP address or CIDR range such as 203.0.113.0/24 (got "203.0.113.0/33")',
    );
    expect(found).toContain('routes.default.domains[0].senders[0]: unknown sender "nope" (got "nope")');
  });

  it("reports YAML syntax errors and duplicate keys instead of guessing", async () => {
    expect((await problems("listen: [unclosed\n"))[0]).toMatch(/^YAML: /);
    expect((await problems("mode: full\nmode: passthrough\n"))[0]).toMatch(
      /^YAML: .*[Mm]ap keys must be unique/,
    );
  });

  it("lets the environment override the file, and validates the result", async () => {
    const file = await configFile("store: { redis: 'redis://file:6379' }\nmode: full\n");
    const config = await loadConfig({
      file,
      env: { REDIS_URL: "redis://env:6379/2", RELAYFLEET_MODE: "passthrough" },
    });
    expect(config.store.redis).toBe("redis://env:6379/2");
    expect(config.mode).toBe("passthrough");
    const error = await loadConfig({ file, env: { RELAYFLEET_MODE: "fast" } }).catch((e: unknown) => e);
    expect((error as ConfigError).problems[0]).toMatch(/^mode: .*"full".*"passthrough".*\(got "fast"\)$/);
    // The pool's shared tracking key comes this way (from a Secret), never from the ConfigMap.
    const shared = await loadConfig({ file, env: { RELAYFLEET_TRACKING_SECRET: "k".repeat(43) } });
    expect(shared.trackingSecret).toBe("k".repeat(43));
    const short = await loadConfig({ file, env: { RELAYFLEET_TRACKING_SECRET: "short" } }).catch(
      (e: unknown) => e,
    );
    expect((short as ConfigError).problems[0]).toMatch(/^trackingSecret: at least 16 characters/);
  });

  it("refuses smtps listeners without tls, naming the key", async () => {
    expect(await problems('listen: { smtps: ["0.0.0.0:465"] }\n')).toEqual([
      'listen.smtps: implicit-TLS listeners need tls: { cert, key } (got ["0.0.0.0:465"])',
    ]);
    const config = await loadConfig({
      env: {},
      file: await configFile('listen: { smtps: ["0.0.0.0:465"] }\ntls: { cert: /c.pem, key: /k.pem }\n'),
    });
    expect(config.listen.smtps).toEqual(["0.0.0.0:465"]);
  });

  it("names a tracking proxy that is no address or range", async () => {
    expect(await problems("tracking:\n  trustForwardedFrom: ['10.0.0.0/8', 'ingress']\n")).toEqual([
      'tracking.trustForwardedFrom[1]: an IP address or CIDR range such as 10.0.0.0/8 (got "ingress")',
    ]);
  });

  it("says when the file cannot be read", async () => {
    const error = await loadConfig({ file: "/nonexistent/relay.yaml", env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("/nonexistent/relay.yaml");
  });
});

describe("config errors keep secrets out of the message", () => {
  async function messageOf(text: string, env: Record<string, string> = {}): Promise<string> {
    const error = await loadConfig({ file: await configFile(text), env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }

  it("names the secret keys that are wrong without quoting their values", async () => {
    const message = await messageOf(
      `
apiToken: tok-SECRET-1
store: { redis: "http://:SECRET-2@redis.example:6379" }
accounts:
  - name: acme
    credentials: [{ username: u, password: "SECRET-3", extra: 1 }]
    dkim:
      - { domain: acme.test, selector: s1, privateKey: "SECRET-4 is not a pem" }
  - name: beta
    credentials: { username: u, password: "SECRET-5" }
routes:
  default:
    senders: [{ name: out, host: mx.example, auth: { user: u, pass: "SECRET-6" }, port: "x" }]
`,
      { RELAYFLEET_TRACKING_SECRET: "SECRET-7" },
    );
    expect(message).toContain("apiToken: at least 16 characters (value hidden: it is a secret)");
    expect(message).toContain("trackingSecret: at least 16 characters");
    expect(message).toContain("store.redis: a redis:// or rediss:// URL");
    expect(message).toContain("accounts[0].dkim[0].privateKey: a PEM private key");
    // An object quoted whole (a mistyped credentials list) has its password hidden inside.
    expect(message).toContain("accounts[1].credentials:");
    expect(message).toContain('"password":"(hidden)"');
    expect(message).toContain("routes.default.senders[0].port");
    expect(message).not.toMatch(/SECRET-\d/);
  });

  it("reports a YAML syntax error by line and column, never quoting the line", async () => {
    const message = await messageOf('hostname: relay.test\napiToken: "SECRET-8\nmode: full\n');
    expect(message).toMatch(/YAML: .* at line \d+, column \d+/);
    expect(message).not.toContain("SECRET-8");
  });
});
