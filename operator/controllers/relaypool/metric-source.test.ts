import { describe, expect, it } from "vitest";
import { createMetrics } from "../../../relay/metrics/index.js";
import { counterRate, sumSamples } from "./metric-source.js";

describe("reading relay metrics", () => {
  it("sums every series of a metric in the relay's own exposition", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.queueMessages.set({ state: "queued" }, 7);
    metrics.queueMessages.set({ state: "deferred" }, 5);
    metrics.messagesAccepted.inc({ account: "a" }, 3);
    const text = await metrics.registry.metrics();
    expect(sumSamples(text, "relayfleet_queue_messages")).toBe(12);
    expect(sumSamples(text, "relayfleet_messages_accepted_total")).toBe(3);
    expect(sumSamples(text, "relayfleet_nothing")).toBeUndefined();
    expect(
      sumSamples(
        'relayfleet_queue_messages_x 9\nrelayfleet_queue_messages{state="a b}"} 2',
        "relayfleet_queue_messages",
      ),
    ).toBe(2);
  });

  it("turns counter samples into a rate, counting a reset from zero", () => {
    expect(counterRate(undefined, { value: 5, at: 1000 })).toBeUndefined();
    expect(counterRate({ value: 10, at: 0 }, { value: 30, at: 2000 })).toBe(10);
    expect(counterRate({ value: 100, at: 0 }, { value: 4, at: 2000 })).toBe(2);
  });
});
