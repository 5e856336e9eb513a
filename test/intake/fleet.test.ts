import { randomUUID } from "node:crypto";
import { createTransport } from "nodemailer";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { openRedisStore } from "../../relay/store/redis/index.js";
import { putAccount, startTestIntake } from "../support/intake.js";

describe("a fleet of relays on one Redis", () => {
  it("stops taking a revoked password on every relay within a second", async () => {
    const prefix = `t${randomUUID()}:`;
    const stores = await Promise.all([1, 2].map(() => openRedisStore({ url: inject("redisUrl"), prefix })));
    onTestFinished(async () => {
      await Promise.all(stores.map((s) => s.close()));
    });
    const acme = {
      name: "acme",
      credentials: [{ username: "u", password: "first-password" }],
      allowedFrom: ["*@acme.test"],
    };
    await putAccount(stores[0]!, acme);
    const relays = [
      await startTestIntake({ store: stores[0]! }),
      await startTestIntake({ store: stores[1]! }),
    ];
    const send = (port: number, pass: string) =>
      createTransport({
        host: "127.0.0.1",
        port,
        secure: false,
        ignoreTLS: true,
        auth: { user: "u", pass },
      }).sendMail({
        envelope: { from: "a@acme.test", to: ["r@isp.test"] },
        raw: "From: a@acme.test\r\nSubject: s\r\n\r\nhi\r\n",
      });
    // Both relays have the account (and the verified password) cached now.
    for (const relay of relays) await send(relay.port, "first-password");
    await putAccount(stores[0]!, { ...acme, credentials: [{ username: "u", password: "second-password" }] });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const relay of relays) {
      await expect(send(relay.port, "first-password")).rejects.toMatchObject({ responseCode: 535 });
      await expect(send(relay.port, "second-password")).resolves.toMatchObject({
        response: expect.stringMatching(/^250 /),
      });
    }
  });
});
