/// <reference lib="dom" />
/** The SMTP log: filters, cursor paging, polling while open, CSV export of the filter. */
import { enc, get } from "./api.js";
import { field, h, input, select, show, status, table } from "./dom.js";
import { formatSize, formatTime, type LogFilter, logQuery, toCsv } from "./logic.js";
import type { Context, MessageSummary, Page } from "./types.js";

const POLL_MS = 5000;
const PAGE_SIZE = 50;
const CSV_COLUMNS = ["id", "acceptedAt", "from", "subject", "size", "group", "recipients"];
const STATUSES: [string, string][] = [
  ["", "any"],
  ["queued", "queued"],
  ["deferred", "deferred"],
  ["delivered", "delivered"],
  ["bounced", "bounced"],
  ["suppressed", "suppressed"],
];

/** The filter survives a visit to a message and back within the tab. */
const FILTER_KEY = "relayfleet.logFilter";

function savedFilter(): LogFilter {
  try {
    return JSON.parse(sessionStorage.getItem(FILTER_KEY) ?? "{}") as LogFilter;
  } catch {
    return {};
  }
}

export async function logPage(ctx: Context): Promise<void> {
  const filter = savedFilter();
  const since = input({ type: "datetime-local", name: "since", value: filter.since ?? "" });
  const until = input({ type: "datetime-local", name: "until", value: filter.until ?? "" });
  const rcpt = input({ type: "search", name: "rcpt", value: filter.rcpt ?? "", autocomplete: "off" });
  const statusSelect = select("status", STATUSES, filter.status ?? "");
  const group = input({ type: "text", name: "group", value: filter.group ?? "" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the log" },
    field("From", since, "since"),
    field("Until", until, "until"),
    field("Recipient", rcpt, "rcpt"),
    field("Status", statusSelect, "status"),
    field("Group", group, "group"),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, "Search"),
      h("button", { type: "button", id: "export", onclick: () => void exportCsv() }, "Export CSV"),
    ),
  );
  const live = h("p", { class: "live", role: "status", "aria-live": "polite" });
  const results = h("div", { id: "results" });
  const pager = h("div", { class: "pager" });
  show(ctx.main, "SMTP log", form, live, results, pager);

  const base = `/v1/accounts/${enc(ctx.account)}/messages`;
  /** Cursors of the pages before this one, for "newer". */
  let history: string[] = [];
  let cursor: string | undefined;
  let shown = "";

  const current = (): LogFilter => ({
    since: since.value,
    until: until.value,
    rcpt: rcpt.value,
    status: statusSelect.value,
    group: group.value,
  });

  async function load(quiet = false): Promise<void> {
    const extra: Record<string, string> = { limit: String(PAGE_SIZE) };
    if (cursor) extra.cursor = cursor;
    const answer = await get<Page<MessageSummary>>(base + logQuery(current(), extra));
    const signature = JSON.stringify(answer.body.items);
    if (quiet && signature === shown) return;
    shown = signature;
    results.replaceChildren(render(ctx, answer.body.items));
    pager.replaceChildren(
      history.length > 0
        ? h("button", { type: "button", onclick: () => void go(history.pop(), false) }, "Newer")
        : "",
      answer.nextCursor
        ? h("button", { type: "button", onclick: () => void go(answer.nextCursor, true) }, "Older")
        : "",
    );
    live.textContent = quiet ? `Updated ${formatTime(Date.now())}` : "";
  }

  async function go(next: string | undefined, older: boolean): Promise<void> {
    if (older) history.push(cursor ?? "");
    cursor = next || undefined;
    await load();
  }

  async function exportCsv(): Promise<void> {
    live.textContent = "Preparing CSV…";
    const rows: MessageSummary[] = [];
    let next: string | undefined;
    for (let page = 0; page < 50; page++) {
      const extra: Record<string, string> = { limit: "1000", ...(next ? { cursor: next } : {}) };
      const answer = await get<Page<MessageSummary>>(base + logQuery(current(), extra));
      rows.push(...answer.body.items);
      next = answer.nextCursor;
      if (!next) break;
    }
    const blob = new Blob([toCsv(rows, CSV_COLUMNS)], { type: "text/csv" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `smtp-log-${ctx.account}.csv` });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    live.textContent = `Exported ${rows.length} messages${next ? " (first 50,000 only)" : ""}.`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(current()));
    history = [];
    cursor = undefined;
    void load().catch((error: unknown) => results.replaceChildren(status(String(error), "error")));
  });

  await load();
  // Live updates: only the newest page moves; an older page stays put while read.
  const timer = setInterval(() => {
    if (cursor === undefined) void load(true).catch(() => undefined);
  }, POLL_MS);
  ctx.onLeave(() => clearInterval(timer));
}

function render(ctx: Context, items: MessageSummary[]): HTMLElement {
  if (items.length === 0) return status("No messages match.");
  return table(
    ["Accepted (UTC)", "Subject", "From", "Recipients", "Group", "Size"],
    items.map((m) => [
      formatTime(m.acceptedAt),
      h("a", { href: `#/message/${enc(m.id)}`, "data-id": m.id }, m.subject || "(no subject)"),
      m.from,
      h(
        "ul",
        { class: "plain" },
        ...m.recipients.map((r) =>
          h("li", {}, `${r.address} `, h("span", { class: `badge ${r.status}` }, r.status)),
        ),
      ),
      m.group ?? "",
      formatSize(m.size),
    ]),
    `Messages of ${ctx.account}`,
  );
}
