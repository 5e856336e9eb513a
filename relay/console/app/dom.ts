/// <reference lib="dom" />
/**
 * Building the page. Every value reaches the DOM as a text node or an
 * attribute set with setAttribute, never as markup: the CSP's Trusted Types
 * rule makes innerHTML throw, so a stored subject or user agent stays text.
 */

export type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

function apply(element: Element, attrs: Attrs, children: Child[]): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("a", { href: "#/log", onclick: fn }, "text", childNode) */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  apply(element, attrs, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const element = document.createElementNS(SVG_NS, tag);
  apply(element, attrs, children);
  return element;
}

/** A labelled form control: the label's `for` and the control's id agree, and the error slot is announced. */
export function field(label: string, control: HTMLElement, name: string, hint?: string): HTMLElement {
  const id = `f-${name.replace(/[^a-zA-Z0-9-]/g, "-")}`;
  control.id = id;
  control.setAttribute("aria-describedby", `${id}-error`);
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, label),
    control,
    hint ? h("small", {}, hint) : null,
    h("p", { class: "field-error", id: `${id}-error`, role: "alert" }),
  );
}

/** Replaces the main area's content and moves focus to its heading, so keyboard and reader users land there. */
export function show(main: HTMLElement, title: string, ...content: Child[]): void {
  const heading = h("h1", { tabindex: -1 }, title);
  main.replaceChildren(heading);
  for (const child of content) if (child) main.append(child instanceof Node ? child : String(child));
  document.title = `${title} · relayfleet console`;
  heading.focus();
}

export function table(headers: string[], rows: Child[][], caption: string): HTMLElement {
  return h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, c))))),
    ),
  );
}

export function status(text: string, kind: "info" | "error" = "info"): HTMLElement {
  return h("p", { class: `status ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function input(attrs: Attrs): HTMLInputElement {
  return h("input", attrs);
}

export function select(name: string, options: [string, string][], value = ""): HTMLSelectElement {
  return h(
    "select",
    { name },
    ...options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}
