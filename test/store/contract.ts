/**
 * The Store contract suite: one set of cases, run unchanged against every
 * adapter (test/store/redis.test.ts, test/store/local.test.ts). The cases
 * check what relay/store/types.ts promises, and nothing an adapter happens
 * to do beyond it.
 */
import { describe } from "vitest";
import type { Store } from "../../relay/store/types.js";
import { describeAccountContract } from "./contract-accounts.js";
import { describeChangeContract } from "./contract-changes.js";
import { describeConcurrencyContract } from "./contract-concurrency.js";
import { describeCounterContract } from "./contract-counters.js";
import { describeEventContract } from "./contract-events.js";
import { type StoreContractOptions, storeHarness } from "./contract-harness.js";
import { describeMessageContract } from "./contract-messages.js";
import { describeOutboxContract } from "./contract-outbox.js";
import { describeReportContract } from "./contract-reports.js";
import { describeRoutingContract } from "./contract-routing.js";
import { describeSuppressionContract } from "./contract-suppressions.js";
import { describeWebhookContract } from "./contract-webhooks.js";

export type { StoreContractOptions } from "./contract-harness.js";

/**
 * Registers the contract cases for one adapter. `open` must return a fresh,
 * empty store each time; the suite closes it when the test finishes.
 */
export function describeStoreContract(
  name: string,
  open: () => Promise<Store>,
  options: StoreContractOptions = {},
): void {
  const harness = storeHarness(open, options);
  describe(`Store contract: ${name}`, () => {
    describeAccountContract(harness);
    describeSuppressionContract(harness);
    describeCounterContract(harness);
    describeMessageContract(harness);
    describeEventContract(harness);
    describeReportContract(harness);
    describeRoutingContract(harness);
    describeConcurrencyContract(harness);
    describeChangeContract(harness);
    describeWebhookContract(harness);
    describeOutboxContract(harness);
  });
}
