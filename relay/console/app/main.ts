/// <reference lib="dom" />
/** Sign-in, the account picker, navigation and the hash router. */
import { ApiFailure, get, signIn, signOut, token } from "./api.js";
import { h, show, status } from "./dom.js";
import { logPage } from "./page-log.js";
import { messagePage } from "./page-message.js";
import { reportsPage } from "./page-reports.js";
import { settingsPage } from "./page-settings.js";
import { suppressionsPage } from "./page-suppressions.js";
import type { AccountView, Context, Page } from "./types.js";

const ACCOUNT_KEY = "relayfleet.account";
const PAGES: [string, string][] = [
  ["log", "SMTP log"],
  ["reports", "Reports"],
  ["suppressions", "Suppressions"],
  ["settings", "Settings"],
];

const root = document.getElementById("app") as HTMLElement;
let leaving: (() => void)[] = [];

/** Stops what the current page runs in the background (polling), e.g. before sign-out. */
function leavePage(): void {
  for (const stop of leaving) stop();
  leaving = [];
}

function signInForm(message?: string): void {
  leavePage();
  window.onhashchange = null;
  const tokenInput = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
  });
  const form = h(
    "form",
    { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "relayfleet console"),
    h("label", { for: "token" }, "Admin token or API key"),
    tokenInput,
    h("button", { type: "submit" }, "Sign in"),
    message ? status(message, "error") : null,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(tokenInput.value.trim());
    void start();
  });
  root.replaceChildren(h("main", { id: "main" }, form));
  tokenInput.focus();
}

function route(): { page: string; arg: string } {
  const [page = "log", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { page: page || "log", arg: decodeURIComponent(rest.join("/")) };
}

async function start(): Promise<void> {
  if (!token()) return signInForm();
  let accounts: AccountView[];
  try {
    accounts = (await get<Page<AccountView>>("/v1/accounts")).body.items;
  } catch (error) {
    signOut();
    return signInForm(
      error instanceof ApiFailure && error.status === 401 ? "That token was not accepted." : String(error),
    );
  }
  const admin = !(token() ?? "").startsWith("rfk_");
  const names = accounts.map((a) => a.name);
  const stored = sessionStorage.getItem(ACCOUNT_KEY) ?? "";
  let account = names.includes(stored) ? stored : (names[0] ?? "");

  const main = h("main", { id: "main" });
  const picker = h(
    "select",
    { id: "account", name: "account", disabled: names.length < 2 },
    ...names.map((n) => h("option", { value: n, selected: n === account }, n)),
  );
  picker.addEventListener("change", () => {
    account = picker.value;
    sessionStorage.setItem(ACCOUNT_KEY, account);
    render();
  });
  const links = PAGES.map(([id, label]) => h("a", { href: `#/${id}`, "data-page": id }, label));
  const header = h(
    "header",
    {},
    h(
      "a",
      {
        class: "skip",
        href: "#main",
        // The hash is the router's; move focus instead of navigating.
        onclick: (event: Event) => {
          event.preventDefault();
          main.querySelector("h1")?.focus();
        },
      },
      "Skip to content",
    ),
    h("span", { class: "brand" }, "relayfleet"),
    h("nav", { "aria-label": "Console" }, h("ul", {}, ...links.map((a) => h("li", {}, a)))),
    h("div", { class: "who" }, h("label", { for: "account" }, "Account"), picker),
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          signOut();
          location.hash = "";
          signInForm();
        },
      },
      "Sign out",
    ),
  );
  root.replaceChildren(header, main);
  if (!account) {
    show(main, "No account", status("This token sees no account yet."));
    return;
  }

  function render(): void {
    leavePage();
    const { page, arg } = route();
    for (const a of links) {
      if (a.dataset.page === page) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const context: Context = { account, admin, main, onLeave: (stop) => leaving.push(stop) };
    const pages: Record<string, () => Promise<void>> = {
      log: () => logPage(context),
      message: () => messagePage(context, arg),
      reports: () => reportsPage(context),
      suppressions: () => suppressionsPage(context),
      settings: () => settingsPage(context),
    };
    (pages[page] ?? pages.log)?.().catch((error: unknown) => {
      if (error instanceof ApiFailure && error.status === 401) {
        signOut();
        signInForm("Your token is no longer accepted.");
        return;
      }
      main.append(status(error instanceof Error ? error.message : String(error), "error"));
    });
  }
  window.onhashchange = render;
  render();
}

void start();
