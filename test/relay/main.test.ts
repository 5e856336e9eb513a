import { join } from "node:path";
import { createTransport } from "nodemailer";
import { describe, expect, it, onTestFinished } from "vitest";
import { relayConfigSchema } from "../../relay/config/schema.js";
import { silentLogger } from "../../relay/log/logger.js";
import { startRelay } from "../../relay/main.js";
import { tempDir } from "../support/temp-dir.js";

describe("a relay process's listeners", () => {
  it("serves SMTP, lifecycle endpoints and metrics, and drains on request", async () => {
    const dir = await tempDir();
    const config = relayConfigSchema.parse({
      dataDir: join(dir, "data"),
      listen: { smtp: ["127.0.0.1:0"], api: "127.0.0.1:0", tracking: "127.0.0.1:0", metrics: "127.0.0.1:0" },
      accounts: [{ name: "office", allowedIps: ["127.0.0.0/8"], allowedFrom: ["*@office.test"] }],
    });
    const relay = await startRelay(config, silentLogger());
    onTestFinished(() => relay.stop());
    const smtp = relay.intake.addresses[0] as { port: number };
    await createTransport({ host: "127.0.0.1", port: smtp.port, secure: false, ignoreTLS: true }).sendMail({
      envelope: { from: "app@office.test", to: ["r@isp.test"] },
      raw: "From: app@office.test\r\nSubject: s\r\n\r\nhi\r\n",
    });
    const api = `http://127.0.0.1:${relay.apiAddress.port}`;
    expect((await fetch(`${api}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${api}/readyz`)).json()).toEqual({ status: "ready" });
    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsAddress.port}/metrics`)).text();
    expect(metrics).toContain('relayfleet_messages_accepted_total{account="office"} 1');
    expect(metrics).toMatch(/relayfleet_smtp_sessions_total 1/);
    expect((await fetch(`${api}/v1/admin/drain`, { method: "POST" })).status).toBe(401);
    const drain = await fetch(`${api}/v1/admin/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${relay.apiToken}` },
    });
    expect(drain.status).toBe(200);
    const ready = await fetch(`${api}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "draining" });
  });

  it("makes a demo account on a bare machine and keeps its password across restarts", async () => {
    const dir = await tempDir();
    const config = relayConfigSchema.parse({
      dataDir: join(dir, "data"),
      listen: { smtp: ["127.0.0.1:0"], api: "127.0.0.1:0", tracking: "127.0.0.1:0", metrics: "127.0.0.1:0" },
    });
    const first = await startRelay(config, silentLogger());
    const demo = first.demo;
    const token = first.apiToken;
    await first.stop();
    expect(demo?.username).toBe("demo");
    const second = await startRelay(config, silentLogger());
    onTestFinished(() => second.stop());
    expect(second.demo).toEqual(demo);
    expect(second.apiToken).toBe(token);
    // With no route tables configured, mail goes direct to MX rather than queueing for ever.
    expect(await second.store.getRouteTable("default")).toMatchObject({
      senders: [{ name: "direct", mx: true }],
    });
    const smtp = second.intake.addresses[0] as { port: number };
    const info = await createTransport({
      host: "127.0.0.1",
      port: smtp.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: "demo", pass: demo?.password ?? "" },
    }).sendMail({
      envelope: { from: "me@example.com", to: ["you@example.net"] },
      raw: "From: me@example.com\r\n\r\nhi\r\n",
    });
    expect(info.response).toMatch(/^250 /);
  });
});
