/// <reference lib="dom" />
/** One message: envelope, subject, size, group, and per recipient a timeline of attempts and events. */
import { enc, get } from "./api.js";
import { h, show, status } from "./dom.js";
import { formatSize, formatTime, timelineFor } from "./logic.js";
import type { Context, MessageRecord } from "./types.js";

const POLL_MS = 4000;

export async function messagePage(ctx: Context, id: string): Promise<void> {
  const body = h("div", { id: "message" });
  const live = h("p", { class: "live", role: "status", "aria-live": "polite" });
  show(ctx.main, "Message", h("p", {}, h("a", { href: "#/log" }, "← Back to the log")), live, body);
  let shown = "";

  async function load(): Promise<void> {
    const message = (await get<MessageRecord>(`/v1/messages/${enc(id)}`)).body;
    const signature = JSON.stringify(message);
    if (signature === shown) return;
    if (shown) live.textContent = `Updated ${formatTime(Date.now())}`;
    shown = signature;
    body.replaceChildren(...render(message));
  }

  await load();
  const timer = setInterval(() => void load().catch(() => undefined), POLL_MS);
  ctx.onLeave(() => clearInterval(timer));
}

function render(m: MessageRecord): HTMLElement[] {
  const facts: [string, string][] = [
    ["Subject", m.subject || "(no subject)"],
    ["Message ID", m.id],
    ["Envelope from", m.from],
    ["Envelope to", m.recipients.map((r) => r.address).join(", ")],
    ["Accepted (UTC)", formatTime(m.acceptedAt)],
    ["Size", formatSize(m.size)],
    ["Group", m.group ?? "—"],
    ["Client IP", m.clientIp ?? "—"],
    ["Authenticated as", m.authUser ?? "—"],
    ["Message-ID header", m.messageIdHeader ?? "—"],
  ];
  const envelope = h(
    "dl",
    { class: "facts" },
    ...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", { "data-fact": term }, value)]),
  );
  if (m.recipients.length === 0) return [envelope, status("No recipients.")];
  const recipients = m.recipients.map((r) => {
    const entries = timelineFor(r.address, r.attempts, m.events);
    return h(
      "section",
      { class: "recipient", "aria-label": `Recipient ${r.address}`, "data-recipient": r.address },
      h("h2", {}, r.address, " ", h("span", { class: `badge ${r.status}` }, r.status)),
      entries.length === 0
        ? status("Nothing yet.")
        : h(
            "ol",
            { class: "timeline" },
            ...entries.map((e) =>
              h(
                "li",
                { class: `${e.kind}${e.bot ? " bot" : ""}` },
                h("time", { datetime: new Date(e.at).toISOString() }, formatTime(e.at)),
                h("strong", { class: "what" }, e.label),
                e.detail ? h("span", { class: "detail" }, e.detail) : null,
              ),
            ),
          ),
    );
  });
  return [envelope, ...recipients];
}
