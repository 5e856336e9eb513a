/// <reference lib="dom" />
/** Suppression lists: view with reason and date, search, add, remove. */
import { ApiFailure, call, enc, get } from "./api.js";
import { field, h, input, select, show, status, table } from "./dom.js";
import { formatTime } from "./logic.js";
import type { Context, Page, Suppression } from "./types.js";

const LISTS: [string, string][] = [
  ["bounces", "Bounces"],
  ["unsubscribes", "Unsubscribes"],
  ["complaints", "Complaints"],
];

export async function suppressionsPage(ctx: Context): Promise<void> {
  const list = select("list", LISTS);
  const search = input({ type: "search", name: "search", autocomplete: "off" });
  const finder = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Search the list" },
    field("List", list, "list"),
    field("Address contains", search, "search"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Search")),
  );
  const address = input({ type: "email", name: "address", autocomplete: "off" });
  const reason = input({ type: "text", name: "reason", maxlength: 500 });
  const adder = h(
    "form",
    { class: "filters", "aria-label": "Add an address", novalidate: true },
    field("Address to add", address, "address"),
    field("Reason", reason, "reason"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add to list")),
  );
  const live = h("p", { class: "live", role: "status", "aria-live": "polite" });
  const results = h("div", { id: "suppressions" });
  const pager = h("div", { class: "pager" });
  show(ctx.main, "Suppression lists", finder, adder, live, results, pager);

  const base = () => `/v1/accounts/${enc(ctx.account)}/suppressions/${enc(list.value)}`;
  let cursors: string[] = [];
  let cursor: string | undefined;

  async function load(): Promise<void> {
    const params = new URLSearchParams({ limit: "50" });
    if (search.value.trim()) params.set("search", search.value.trim());
    if (cursor) params.set("cursor", cursor);
    const answer = await get<Page<Suppression>>(`${base()}?${params}`);
    const rows = answer.body.items;
    results.replaceChildren(
      rows.length === 0
        ? status("No addresses on this list match.")
        : table(
            ["Address", "Reason", "Added (UTC)", "Message", ""],
            rows.map((row) => [
              row.address,
              row.reason,
              formatTime(row.at),
              row.messageId ? h("a", { href: `#/message/${enc(row.messageId)}` }, row.messageId) : "",
              h(
                "button",
                {
                  type: "button",
                  "aria-label": `Remove ${row.address}`,
                  onclick: () => void remove(row.address),
                },
                "Remove",
              ),
            ]),
            `${list.value} of ${ctx.account}`,
          ),
    );
    pager.replaceChildren(
      cursors.length
        ? h("button", { type: "button", onclick: () => void page(cursors.pop(), false) }, "Previous")
        : "",
      answer.nextCursor
        ? h("button", { type: "button", onclick: () => void page(answer.nextCursor, true) }, "Next")
        : "",
    );
  }

  async function page(next: string | undefined, forward: boolean): Promise<void> {
    if (forward) cursors.push(cursor ?? "");
    cursor = next || undefined;
    await load();
  }

  async function remove(target: string): Promise<void> {
    await call("DELETE", `${base()}/${enc(target)}`);
    live.textContent = `Removed ${target} from ${list.value}.`;
    await load();
  }

  const restart = () => {
    cursors = [];
    cursor = undefined;
    void load().catch((error: unknown) => results.replaceChildren(status(String(error), "error")));
  };
  finder.addEventListener("submit", (event) => {
    event.preventDefault();
    restart();
  });
  list.addEventListener("change", restart);
  adder.addEventListener("submit", (event) => {
    event.preventDefault();
    const slot = adder.querySelector<HTMLElement>('[data-field="address"] .field-error');
    if (slot) slot.textContent = "";
    const target = address.value.trim();
    const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
    call("PUT", `${base()}/${enc(target)}`, body)
      .then(() => {
        live.textContent = `Added ${target} to ${list.value}.`;
        address.value = "";
        reason.value = "";
        restart();
      })
      .catch((error: unknown) => {
        const message = error instanceof ApiFailure ? error.message : String(error);
        if (slot) slot.textContent = message;
      });
  });
  await load();
}
