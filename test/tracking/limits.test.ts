/**
 * Tracking hits are recorded at a bounded rate per token and per client
 * (HOSTILE-INPUTS row 24): a flood still gets its GIF and its redirect, only
 * the recording is skipped and counted. The counters are bounded in memory.
 */
import { describe, expect, it } from "vitest";
import { WindowCounter } from "../../relay/limits/window-counter.js";
import { DEFAULT_RECORDING_LIMITS, recordingDecision } from "../../relay/tracking/server.js";
import { type StoreKind, startTrackingFixture } from "./fixture.js";

const READER_UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

/** A clock at the start of a minute, one millisecond further at each call: every hit in one window. */
function minuteClock(): () => number {
  let at = Math.floor(Date.now() / 60_000) * 60_000;
  return () => at++;
}

async function hitMany(urls: string[], headers: (i: number) => Record<string, string> = () => ({})) {
  const statuses: number[] = [];
  for (let start = 0; start < urls.length; start += 25) {
    const batch = urls.slice(start, start + 25).map(async (url, j) => {
      const response = await fetch(url, {
        headers: { "user-agent": READER_UA, ...headers(start + j) },
        redirect: "manual",
      });
      await response.arrayBuffer();
      return response.status;
    });
    statuses.push(...(await Promise.all(batch)));
  }
  return statuses;
}

async function dropped(t: Awaited<ReturnType<typeof startTrackingFixture>>) {
  const values = (await t.metrics.trackingEventsDropped.get()).values;
  return Object.fromEntries(values.map((v) => [v.labels.reason, v.value]));
}

describe("bounded counters", () => {
  it("forget the least recently used key past their size, so distinct clients cannot grow memory", () => {
    const counter = new WindowCounter({ windowMs: 60_000, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) counter.take(`2001:db8:${i.toString(16)}::/64`, 5, 1000);
    expect(counter.size).toBe(100);
    // A key in use stays remembered while the flood passes it by.
    const busy = new WindowCounter({ windowMs: 60_000, maxKeys: 10 });
    for (let i = 0; i < 1000; i++) {
      busy.take(`stranger${i}`, 5, 1000);
      busy.take("busy", 1000, 1000);
    }
    expect(busy.take("busy", 1000, 1000)).toBe(false);
  });

  it("count per window and start again in the next", () => {
    const counter = new WindowCounter({ windowMs: 60_000, maxKeys: 10 });
    const taken = Array.from({ length: 5 }, () => counter.take("k", 3, 120_000));
    expect(taken).toEqual([true, true, true, false, false]);
    expect(counter.take("k", 3, 179_999)).toBe(false);
    expect(counter.take("k", 3, 180_000)).toBe(true);
  });

  it("decide per token first, then per client, a /64 being one client", () => {
    const counters = {
      byIp: new WindowCounter({ windowMs: 60_000, maxKeys: 10 }),
      byToken: new WindowCounter({ windowMs: 60_000, maxKeys: 10 }),
    };
    const limits = { perIpPerMinute: 2, perTokenPerMinute: 1 };
    const hit = (ip: string, token: string) => recordingDecision(counters, limits, { ip, token, now: 0 });
    expect(hit("2001:db8:1:1::1", "a")).toBeUndefined();
    expect(hit("2001:db8:1:1::2", "a")).toBe("token_rate");
    expect(hit("2001:db8:1:1::3", "b")).toBeUndefined();
    expect(hit("2001:db8:1:1::4", "c")).toBe("ip_rate");
    expect(hit("2001:db8:1:2::1", "d")).toBeUndefined();
    // A private address is a proxy or balancer in front of many readers: per token only.
    for (const proxy of ["10.1.2.3", "::ffff:192.168.0.9", "fd00::5", "127.0.0.1"]) {
      for (let i = 0; i < 5; i++) expect(hit(proxy, `${proxy}-${i}`)).toBeUndefined();
    }
    const unlimited = { perIpPerMinute: 0, perTokenPerMinute: 0 };
    for (let i = 0; i < 100; i++)
      expect(recordingDecision(counters, unlimited, { ip: "x", token: "a", now: 0 })).toBeUndefined();
    expect(DEFAULT_RECORDING_LIMITS.perTokenPerMinute).toBeGreaterThan(0);
  });
});

describe.each<StoreKind>(["local", "redis"])("recording limits over HTTP (%s store)", (storeKind) => {
  it("answers 1,000 hits on one token with the GIF and the redirect, recording at most the cap", async () => {
    const t = await startTrackingFixture({
      store: storeKind,
      deps: { now: minuteClock(), recordingLimits: { perIpPerMinute: 0, perTokenPerMinute: 5 } },
    });
    const open = t.sign({ kind: "open", recipient: "reader@example.org" });
    const click = t.sign({
      kind: "click",
      recipient: "reader@example.org",
      linkIndex: 0,
      url: "https://ok.example/",
    });
    const opens = await hitMany(Array.from({ length: 1000 }, () => `${t.base}/o/${open}.gif`));
    expect(opens.filter((status) => status === 200)).toHaveLength(1000);
    const clicks = await hitMany(Array.from({ length: 1000 }, () => `${t.base}/c/${click}`));
    expect(clicks.filter((status) => status === 302)).toHaveLength(1000);
    const record = await t.store.getMessage(t.message.id);
    expect(record?.events.filter((e) => e.type === "open")).toHaveLength(5);
    expect(record?.events.filter((e) => e.type === "click")).toHaveLength(5);
    expect(await dropped(t)).toEqual({ token_rate: 1990 });
  }, 120_000);

  it("records at most the cap per client across tokens, a /64 being one client, and others still count", async () => {
    const t = await startTrackingFixture({
      store: storeKind,
      deps: {
        now: minuteClock(),
        trustForwardedFrom: ["127.0.0.1", "::1"],
        recordingLimits: { perIpPerMinute: 3, perTokenPerMinute: 0 },
      },
    });
    const links = Array.from({ length: 20 }, (_, i) =>
      t.sign({
        kind: "click",
        recipient: "reader@example.org",
        linkIndex: i,
        url: `https://ok.example/${i}`,
      }),
    );
    // Twenty links from twenty addresses of one /64.
    const statuses = await hitMany(
      links.map((token) => `${t.base}/c/${token}`),
      (i) => ({ "x-forwarded-for": `2001:db8:77:1::${(i + 1).toString(16)}` }),
    );
    expect(statuses.every((status) => status === 302)).toBe(true);
    // Another client is not held back by the first.
    await hitMany([`${t.base}/c/${links[0]}`], () => ({ "x-forwarded-for": "2001:db8:77:2::1" }));
    const clicks = (await t.store.getMessage(t.message.id))?.events.filter((e) => e.type === "click") ?? [];
    expect(clicks).toHaveLength(4);
    expect(clicks.filter((e) => e.ip === "2001:db8:77:2::1")).toHaveLength(1);
    expect(await dropped(t)).toEqual({ ip_rate: 17 });
  }, 60_000);
});
