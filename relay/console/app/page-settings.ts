/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Account settings: tracking, wrap column, notifications, limits, allowed IPs
 * and From addresses, credentials rotation and API keys. Values go to the API
 * as typed (no browser-side validation) so its own errors show by the field.
 */
import { ApiFailure, call, enc, type FieldIssue, get } from "./api.js";
import { field, h, input, show, status } from "./dom.js";
import { fieldForIssue, linesOf } from "./logic.js";
import type { AccountView, Context } from "./types.js";

const CHECKBOXES = [
  ["tracking.opens", "Track opens"],
  ["tracking.clicks", "Track clicks"],
  ["tracking.textClicks", "Track links in plain-text parts"],
  ["notify.toAccountManager", "Notify the account manager of errors"],
  ["notify.toFrom", "Notify the From address of errors"],
  ["limits.overageAllowed", "Allow sending past the limits"],
] as const;
const NUMBERS = [
  ["wrapColumn", "Wrap lines at column (0: never)"],
  ["limits.perHour", "Messages per hour (0: no limit)"],
  ["limits.perDay", "Messages per day (0: no limit)"],
  ["limits.perMonth", "Messages per month (0: no limit)"],
] as const;
const KNOWN = [
  ...CHECKBOXES.map(([name]) => name),
  ...NUMBERS.map(([name]) => name),
  "notify.accountManager",
  "allowedIps",
  "allowedFrom",
  "credentials",
  "password",
];

function valueAt(account: AccountView, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], account);
}

/** "5000" → 5000 and "abc" stays "abc": the API, not the browser, says what is wrong. */
function numberOrText(text: string): number | string | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function setAt(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let at = target;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1) ?? path] = value;
}

function showIssues(form: HTMLElement, issues: FieldIssue[], fallback: string): void {
  for (const slot of form.querySelectorAll<HTMLElement>(".field-error")) slot.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const general = form.querySelector<HTMLElement>(".form-error");
  if (general) general.textContent = issues.length ? "" : fallback;
  let first: HTMLElement | null = null;
  for (const issue of issues) {
    const name = fieldForIssue(issue.field, KNOWN);
    const holder = form.querySelector<HTMLElement>(`[data-field="${CSS.escape(name)}"]`);
    const slot = holder?.querySelector<HTMLElement>(".field-error") ?? general;
    if (slot) slot.textContent = [slot.textContent, issue.message].filter(Boolean).join("; ");
    const control = holder?.querySelector<HTMLElement>("input, textarea");
    control?.setAttribute("aria-invalid", "true");
    first ??= control ?? null;
  }
  first?.focus();
}

export async function settingsPage(ctx: Context): Promise<void> {
  const path = `/v1/accounts/${enc(ctx.account)}`;
  const account = (await get<AccountView>(path)).body;
  const controls = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  const control = <T extends HTMLInputElement | HTMLTextAreaElement>(name: string, element: T): T => {
    element.name = name;
    controls.set(name, element);
    return element;
  };

  const checkboxes = CHECKBOXES.map(([name, label]) => {
    const box = control(name, input({ type: "checkbox", checked: valueAt(account, name) === true }));
    const id = `f-${name.replace(/\./g, "-")}`;
    box.id = id;
    return h(
      "div",
      { class: "field check", "data-field": name },
      box,
      h("label", { for: id }, label),
      h("p", { class: "field-error", role: "alert" }),
    );
  });
  const numbers = NUMBERS.map(([name, label]) =>
    field(
      label,
      control(
        name,
        input({ type: "text", inputmode: "numeric", value: String(valueAt(account, name) ?? "") }),
      ),
      name,
    ),
  );
  const manager = field(
    "Account manager's address",
    control("notify.accountManager", input({ type: "text", value: account.notify.accountManager ?? "" })),
    "notify.accountManager",
  );
  const list = (name: "allowedIps" | "allowedFrom", label: string, hint: string) =>
    field(label, control(name, h("textarea", { rows: 3 }, account[name].join("\n"))), name, hint);

  const form = h(
    "form",
    { class: "settings", novalidate: true, "aria-label": "Account settings" },
    h(
      "fieldset",
      { disabled: !ctx.admin },
      h("legend", {}, "Tracking and notifications"),
      ...checkboxes,
      manager,
      ...numbers,
      list("allowedIps", "Allowed client IPs", "One address or CIDR range a line, e.g. 203.0.113.0/24"),
      list("allowedFrom", "Allowed From addresses", "One pattern a line, e.g. *@example.com"),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit" }, "Save settings"),
    ),
  );
  const live = h("p", { class: "live", role: "status", "aria-live": "polite" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const patch: Record<string, unknown> = {};
    for (const [name] of CHECKBOXES) setAt(patch, name, (controls.get(name) as HTMLInputElement).checked);
    for (const [name] of NUMBERS) setAt(patch, name, numberOrText(controls.get(name)?.value ?? ""));
    const managerValue = controls.get("notify.accountManager")?.value.trim() ?? "";
    setAt(patch, "notify.accountManager", managerValue || null);
    patch.allowedIps = linesOf(controls.get("allowedIps")?.value ?? "");
    patch.allowedFrom = linesOf(controls.get("allowedFrom")?.value ?? "");
    call("PATCH", path, patch)
      .then(() => {
        showIssues(form, [], "");
        live.textContent = "Settings saved.";
      })
      .catch((error: unknown) => {
        live.textContent = "";
        if (error instanceof ApiFailure) showIssues(form, error.issues, error.message);
        else showIssues(form, [], String(error));
      });
  });

  show(
    ctx.main,
    `Settings of ${ctx.account}`,
    ctx.admin
      ? null
      : status(
          "Signed in with an API key: settings are shown read-only; changing them needs the admin token.",
        ),
    live,
    form,
    credentialsForm(ctx, path, account),
  );
}

function credentialsForm(ctx: Context, path: string, account: AccountView): HTMLElement {
  const username = input({
    type: "text",
    autocomplete: "off",
    value: account.credentials[0]?.username ?? "",
  });
  const password = input({ type: "password", autocomplete: "new-password" });
  const result = h("div", { class: "live", role: "status", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "settings", novalidate: true, "aria-label": "Credentials" },
    h(
      "fieldset",
      { disabled: !ctx.admin },
      h("legend", {}, "Credentials"),
      h("p", {}, `SMTP usernames: ${account.credentials.map((c) => c.username).join(", ") || "none"}.`),
      field(
        "SMTP username",
        username,
        "credentials",
        "Rotating replaces every SMTP username and password of this account.",
      ),
      field("New password", password, "password"),
      h("p", { class: "form-error", role: "alert" }),
      h("button", { type: "submit" }, "Rotate SMTP password"),
      h("button", { type: "button", id: "new-key", onclick: () => void newKey() }, "Make a new API key"),
    ),
    result,
  );
  async function newKey(): Promise<void> {
    const created = (await call<{ key: string; id: string }>("POST", `${path}/keys`, {})).body;
    result.replaceChildren(
      h("p", {}, `New API key ${created.id}; it is shown only now:`),
      h("code", { class: "secret" }, created.key),
    );
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    call("PATCH", path, { credentials: [{ username: username.value.trim(), password: password.value }] })
      .then(() => {
        password.value = "";
        showIssues(form, [], "");
        result.replaceChildren(h("p", {}, "SMTP password rotated."));
      })
      .catch((error: unknown) => {
        if (error instanceof ApiFailure)
          showIssues(
            form,
            error.issues.map((i) => ({ ...i, field: i.field.endsWith(".password") ? "password" : i.field })),
            error.message,
          );
        else showIssues(form, [], String(error));
      });
  });
  return form;
}
