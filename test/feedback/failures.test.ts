/**
 * A report is never acknowledged and then lost: when the Store fails while
 * the receiver records what a report means, it answers 451 (the sender's MTA
 * keeps the report and retries), and the retry, once the Store is back, lands.
 */
import { join } from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it, onTestFinished } from "vitest";
import { accountSchema } from "../../relay/accounts/schema.js";
import {
  FeedbackReceiver,
  IncomingReports,
  InspectionFolder,
  verpAddress,
} from "../../relay/feedback/index.js";
import { silentLogger } from "../../relay/log/logger.js";
import { createIdGenerator } from "../../relay/spool/id.js";
import { Spool } from "../../relay/spool/spool.js";
import { openLocalStore } from "../../relay/store/local/index.js";
import { type Store, StoreError } from "../../relay/store/types.js";
import { makeKeyring } from "../../relay/tracking/token.js";
import { tempDir } from "../support/temp-dir.js";
import { SAMPLES, sampleBytes } from "./samples.js";

/** The real store, with addSuppression failing while `down` is set. */
function flaky(store: Store, state: { down: boolean }): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === "addSuppression" && typeof value === "function") {
        return (...args: unknown[]) =>
          state.down
            ? Promise.reject(new StoreError("unavailable", "redis down"))
            : (value as (...a: unknown[]) => Promise<void>).apply(target, args);
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("feedback when the Store fails", () => {
  it("answers 451 and lands on the retry", async () => {
    const dir = await tempDir();
    const logger = silentLogger();
    const backing = await openLocalStore({ dir: join(dir, "store"), logger });
    onTestFinished(() => backing.close());
    const state = { down: true };
    const store = flaky(backing, state);
    const { spool } = await Spool.open({ dir: join(dir, "spool"), logger });
    const settings = {
      domain: "bounces.relay.test",
      prefix: "bounces",
      keys: makeKeyring({ id: "k", secret: Buffer.alloc(32, 7) }),
      loopAddresses: [],
      maxBytes: 1024 * 1024,
      maxReportsPerIpPerMinute: 60,
    };
    const spooled: string[] = [];
    const receiver = new FeedbackReceiver({
      settings,
      store,
      spool,
      inspection: await InspectionFolder.open(join(dir, "inspect"), {
        maxFiles: 10,
        maxBytes: 10 * 1024 * 1024,
        keepMs: 86_400_000,
      }),
      incoming: await IncomingReports.open(join(dir, "incoming"), 4),
      hostname: "relay.test",
      newId: createIdGenerator(),
      onSpooled: (entry) => spooled.push(entry.id),
      registry: new Registry(),
      logger,
    });
    const id = createIdGenerator()();
    await backing.putAccount({
      ...accountSchema.parse({
        name: "shop",
        allowedFrom: ["*@shop.test"],
        notify: { accountManager: "ops@shop.test", toAccountManager: true, toFrom: false },
        createdAt: 1,
        updatedAt: 1,
      }),
    });
    await backing.recordMessage({
      id,
      account: "shop",
      from: "news@shop.test",
      recipients: ["gone@isp.test"],
      size: 10,
      acceptedAt: Date.now(),
    });
    const to = [verpAddress(settings, id, "gone@isp.test")];
    const sample = SAMPLES.find((s) => s.kind === "hard_bounce") as (typeof SAMPLES)[number];
    await expect(
      receiver.process(sampleBytes(sample), { from: "", to, clientIp: "192.0.2.1" }),
    ).rejects.toMatchObject({
      code: "store_unavailable",
      responseCode: 451,
    });
    state.down = false;
    const outcomes = await receiver.process(sampleBytes(sample), { from: "", to, clientIp: "192.0.2.1" });
    expect(outcomes).toMatchObject([{ kind: "hard_bounce", messageId: id, recipient: "gone@isp.test" }]);
    expect(await backing.getSuppression("shop", "bounces", "gone@isp.test")).toMatchObject({ messageId: id });
    expect(spooled).toHaveLength(1);
  });
});
