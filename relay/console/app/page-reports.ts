/// <reference lib="dom" />
/**
 * Reports: per group (and the account as the sum of its groups) sent,
 * delivered, bounced, opened and clicked over time; opens and clicks by
 * recipient domain, country and hour; bot opens and clicks shown apart.
 */
import { enc, get } from "./api.js";
import { barChart, lineChart } from "./chart.js";
import { field, h, select, show, status, table } from "./dom.js";
import { type Bucket, timeBuckets } from "./logic.js";
import type { Context, Page, ReportRow, Stats } from "./types.js";

const RANGES: Record<string, { span: number; buckets: number }> = {
  "24h": { span: 86_400_000, buckets: 12 },
  "7d": { span: 7 * 86_400_000, buckets: 7 },
  "30d": { span: 30 * 86_400_000, buckets: 10 },
};
/** Each chart costs one call per period; keep a busy account's page quick. */
const MAX_GROUPS = 8;

const ZERO: Stats = {
  recipients: 0,
  delivered: 0,
  deferred: 0,
  bounced: 0,
  opens: 0,
  uniqueOpens: 0,
  clicks: 0,
  uniqueClicks: 0,
  unsubscribes: 0,
  complaints: 0,
  botOpens: 0,
  botClicks: 0,
};

function add(a: Stats, b: Stats): Stats {
  const out = { ...a };
  for (const key of Object.keys(ZERO) as (keyof Stats)[]) out[key] = a[key] + b[key];
  return out;
}

export async function reportsPage(ctx: Context): Promise<void> {
  const range = select("range", [
    ["24h", "Last 24 hours"],
    ["7d", "Last 7 days"],
    ["30d", "Last 30 days"],
  ]);
  const body = h("div", { id: "reports" });
  show(ctx.main, "Reports", h("form", { class: "filters" }, field("Period", range, "range")), body);
  const load = () =>
    draw(ctx, body, range.value).catch((error: unknown) =>
      body.replaceChildren(status(String(error), "error")),
    );
  range.addEventListener("change", () => void load());
  await load();
}

async function draw(ctx: Context, body: HTMLElement, rangeName: string): Promise<void> {
  body.replaceChildren(status("Loading…"));
  const { span, buckets: count } = RANGES[rangeName] ?? { span: 86_400_000, buckets: 12 };
  const now = Date.now();
  const buckets = timeBuckets(now, span, count);
  const account = `/v1/accounts/${enc(ctx.account)}`;
  const groups = (await get<Page<{ name: string }>>(`${account}/groups`)).body.items
    .slice(0, MAX_GROUPS)
    .map((g) => g.name);

  const statsFor = (group: string, b: Bucket) =>
    get<Stats>(`${account}/groups/${enc(group)}/stats?since=${b.since}&until=${b.until}`).then((a) => a.body);
  const perGroup = await Promise.all(groups.map((g) => Promise.all(buckets.map((b) => statsFor(g, b)))));
  const totals = buckets.map((_, i) => perGroup.reduce((sum, rows) => add(sum, rows[i] ?? ZERO), ZERO));
  const since = now - span;
  const reports = await Promise.all(
    (["domains", "geo", "timing"] as const).map((r) =>
      get<Page<ReportRow>>(`${account}/reports/${r}?since=${since}&until=${now}`).then((a) => a.body.items),
    ),
  );
  const labels = buckets.map((b) => b.label);
  const sum = totals.reduce(add, ZERO);

  body.replaceChildren(
    h("h2", {}, `Account ${ctx.account} (all groups)`),
    overTime(`All groups of ${ctx.account}`, labels, totals),
    h(
      "p",
      { class: "bots", "data-bots": "" },
      `Bot opens (prefetch, proxies, scanners), not counted as opens: ${sum.botOpens}. Bot clicks: ${sum.botClicks}.`,
    ),
    ...(groups.length === 0
      ? [status("No transactional groups yet: send with an X-Relay-Group header.")]
      : []),
    ...groups.map((g, n) =>
      h(
        "section",
        { class: "group" },
        h("h2", {}, `Group ${g}`),
        overTime(`Group ${g}`, labels, perGroup[n] ?? []),
      ),
    ),
    ...(["By recipient domain", "By country", "By hour of day (UTC)"] as const).map((title, n) =>
      breakdown(title, reports[n] ?? []),
    ),
  );
}

function overTime(title: string, labels: string[], rows: Stats[]): HTMLElement {
  const pick = (key: keyof Stats) => rows.map((r) => r[key]);
  return h(
    "div",
    { class: "over-time" },
    lineChart(title, labels, [
      { name: "Sent", values: pick("recipients") },
      { name: "Delivered", values: pick("delivered") },
      { name: "Bounced", values: pick("bounced") },
      { name: "Opened", values: pick("opens") },
      { name: "Clicked", values: pick("clicks") },
      { name: "Bot opens", values: pick("botOpens"), dashed: true },
    ]),
    h(
      "details",
      {},
      h("summary", {}, "Numbers"),
      table(
        ["Period from (UTC)", "Sent", "Delivered", "Bounced", "Opened", "Clicked", "Bot opens"],
        rows.map((r, i) => [
          labels[i] ?? "",
          r.recipients,
          r.delivered,
          r.bounced,
          r.opens,
          r.clicks,
          r.botOpens,
        ]),
        title,
      ),
    ),
  );
}

function breakdown(title: string, rows: ReportRow[]): HTMLElement {
  return h(
    "section",
    { class: "breakdown" },
    h("h2", {}, title),
    rows.length === 0
      ? status("No opens or clicks in this period.")
      : h(
          "div",
          {},
          barChart(
            `${title}: opens`,
            rows.map((r) => ({ label: r.key, value: r.opens })),
          ),
          table(
            ["Key", "Opens", "Unique opens", "Clicks", "Unique clicks"],
            rows.map((r) => [r.key, r.opens, r.uniqueOpens, r.clicks, r.uniqueClicks]),
            title,
          ),
        ),
  );
}
