/**
 * The console in a real browser against a real relay: mail sent over SMTP is
 * found in the log by recipient, its timeline shows the open and click the
 * test then triggers, a suppression is added and removed, a bad setting shows
 * the API's error by its field, and an API key sees only its own account.
 * Stored subjects and user agents carry markup that must stay text.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { createTransport } from "nodemailer";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { CONSOLE_CSP } from "../../relay/console/serve.js";
import { startRelayWithSink } from "../support/relay-with-sink.js";
import { tempDir } from "../support/temp-dir.js";
import { openBrowser } from "./browser.js";

/** CONSOLE_SCREENSHOTS=1 refreshes the committed screenshots in docs/console; otherwise they go to a temp dir. */
const DOCS_SHOTS = join(import.meta.dirname, "../../docs/console");
const HOSTILE_SUBJECT = `<img src=x onerror="window.__xss='subject'"> Spring sale`;
const READER =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const HOSTILE_AGENT = `${READER} <script>window.__xss='agent'</script><img src=x onerror="window.__xss='agent'">`;

async function startFleetOfOne() {
  const { relay, sink, trackingBase } = await startRelayWithSink([
    { name: "other", allowedIps: ["127.0.0.2/32"], allowedFrom: ["*@other.test"] },
    { name: "shop", allowedIps: ["127.0.0.1/32"], allowedFrom: ["*@shop.test"] },
  ]);
  const smtpPort = (relay.intake.addresses[0] as { port: number }).port;
  const send = async (from: string, to: string, subject: string, localAddress = "127.0.0.1") => {
    const sent = await createTransport({
      host: "127.0.0.1",
      port: smtpPort,
      ignoreTLS: true,
      localAddress,
    }).sendMail({
      envelope: { from, to: [to] },
      raw: [
        `From: <${from}>`,
        `To: <${to}>`,
        `Subject: ${subject}`,
        "X-Relay-Group: spring",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<html><body><p>Hello</p><a href="https://shop.example/sale">Sale</a></body></html>',
        "",
      ].join("\r\n"),
    });
    return /queued as (\S+)/.exec(sent.response)?.[1] ?? "";
  };
  const api = `http://127.0.0.1:${relay.apiAddress.port}`;
  return { relay, sink, send, api, trackingBase };
}

/** Script errors, CSP reports and failed API answers the page met, for the test to compare with what it expected. */
function watchForErrors(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    // Failed fetches are listed by the response handler, with their URL.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
      problems.push(`console: ${message.text()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400)
      problems.push(
        `${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`,
      );
  });
  return problems;
}

async function signIn(page: Page, base: string, token: string) {
  await page.goto(`${base}/console/`);
  await page.getByLabel("Admin token or API key").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "SMTP log" }).waitFor();
}

describe("the web console in Chromium", () => {
  it("finds a message, follows its timeline live, edits suppressions and settings, and keeps markup inert", async () => {
    const { relay, sink, send, api, trackingBase } = await startFleetOfOne();
    const id = await send("news@shop.test", "reader@isp.test", HOSTILE_SUBJECT);
    const otherId = await send("a@other.test", "someone@isp.test", "Other account's mail", "127.0.0.2");
    expect(id).not.toBe("");
    expect(otherId).not.toBe("");
    const [copy] = await sink.waitForMessages(1, 15_000);
    const html = String((await simpleParser(copy?.raw ?? Buffer.alloc(0))).html);
    const pixel = new RegExp(`${trackingBase}/o/[A-Za-z0-9_-]+\\.gif`).exec(html)?.[0] ?? "";
    const link = new RegExp(`${trackingBase}/c/[A-Za-z0-9_-]+`).exec(html)?.[0] ?? "";
    expect(pixel).not.toBe("");
    expect(link).not.toBe("");

    const head = await fetch(`${api}/console/`);
    expect(head.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(await head.text()).not.toMatch(/<script>|\son\w+=|style=/);

    const browser = await openBrowser();
    const page = await browser.newPage();
    const problems = watchForErrors(page);
    const SHOTS = process.env.CONSOLE_SCREENSHOTS ? DOCS_SHOTS : await tempDir("relayfleet-shots-");
    await mkdir(SHOTS, { recursive: true });
    await signIn(page, api, relay.apiToken);
    // The token is kept for the tab only and never put in a URL.
    expect(await page.evaluate(() => sessionStorage.getItem("relayfleet.token"))).toBe(relay.apiToken);
    expect(page.url()).not.toContain(relay.apiToken);

    // The SMTP log, filtered by recipient: the hostile subject is shown as text.
    await page.selectOption("#account", "shop");
    await page.getByLabel("Recipient").fill("reader@isp.test");
    await page.getByRole("button", { name: "Search" }).click();
    const row = page.locator(`a[data-id="${id}"]`);
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toBe(HOSTILE_SUBJECT);
    await expect.poll(() => page.locator("td .badge.delivered").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator("#results tbody tr").count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, "log.png"), fullPage: true });

    // CSV export of the current filter, assembled in the page and handed over as a download.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    const csv = await readFile((await download.path()) ?? "", "utf8");
    expect(csv.split("\r\n")[0]).toMatch(/^id,acceptedAt,from,subject,size,group,recipients/);
    expect(csv).toContain(id);
    expect(csv).not.toContain(otherId);

    // The message page, then an open and a click appear on it without a reload.
    await row.click();
    const timeline = page.locator('[data-recipient="reader@isp.test"] .timeline');
    await expect.poll(() => timeline.textContent(), { timeout: 10_000 }).toContain("attempt: delivered");
    expect(await page.locator('[data-fact="Subject"]').textContent()).toBe(HOSTILE_SUBJECT);
    expect(await page.locator('[data-fact="Group"]').textContent()).toBe("spring");
    expect((await fetch(pixel, { headers: { "user-agent": HOSTILE_AGENT } })).status).toBe(200);
    const click = await fetch(link, { redirect: "manual", headers: { "user-agent": READER } });
    expect(click.status).toBe(302);
    await expect.poll(() => timeline.textContent(), { timeout: 15_000 }).toContain("clicked");
    const text = (await timeline.textContent()) ?? "";
    expect(text).toMatch(/opened/);
    expect(text).toContain("link https://shop.example/sale");
    expect(text).toContain(HOSTILE_AGENT);
    await page.screenshot({ path: join(SHOTS, "message.png"), fullPage: true });

    // Suppressions: add with a reason, find it, remove it.
    await page.getByRole("link", { name: "Suppressions" }).click();
    await page.getByLabel("Address to add").fill("blocked@isp.test");
    await page.getByLabel("Reason").fill("asked by phone <b>not bold</b>");
    await page.getByRole("button", { name: "Add to list" }).click();
    const entry = page.locator("#suppressions tbody tr", { hasText: "blocked@isp.test" });
    await entry.waitFor();
    expect(await entry.textContent()).toContain("asked by phone <b>not bold</b>");
    await page.screenshot({ path: join(SHOTS, "suppressions.png"), fullPage: true });
    await page.getByRole("button", { name: "Remove blocked@isp.test" }).click();
    await page.getByText("No addresses on this list match.").waitFor();
    const gone = await fetch(`${api}/v1/accounts/shop/suppressions/bounces/blocked@isp.test`, {
      headers: { authorization: `Bearer ${relay.apiToken}` },
    });
    expect(gone.status).toBe(404);

    // Settings: the API's own error next to the field, then a good value saved.
    await page.getByRole("link", { name: "Settings" }).click();
    const wrap = page.getByLabel("Wrap lines at column (0: never)");
    await wrap.fill("5000");
    await page.getByLabel("Allowed client IPs").fill("127.0.0.1/32\n999.1.1.1");
    await page.getByRole("button", { name: "Save settings" }).click();
    const wrapError = page.locator('[data-field="wrapColumn"] .field-error');
    await expect.poll(() => wrapError.textContent(), { timeout: 10_000 }).toMatch(/998/);
    expect(await page.locator('[data-field="allowedIps"] .field-error').textContent()).toMatch(/CIDR/);
    expect(await wrap.getAttribute("aria-invalid")).toBe("true");
    await page.screenshot({ path: join(SHOTS, "settings-error.png"), fullPage: true });
    await wrap.fill("72");
    await page.getByLabel("Allowed client IPs").fill("127.0.0.1/32");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Settings saved.").waitFor();
    expect(await wrapError.textContent()).toBe("");
    const saved = await fetch(`${api}/v1/accounts/shop`, {
      headers: { authorization: `Bearer ${relay.apiToken}` },
    });
    expect(((await saved.json()) as { wrapColumn: number }).wrapColumn).toBe(72);

    // Reports: charts over time for the account and the group, breakdowns, bots apart.
    await page.getByRole("link", { name: "Reports" }).click();
    await page.locator("svg.chart").first().waitFor();
    expect(await page.locator("svg.chart polyline").count()).toBeGreaterThanOrEqual(12);
    expect(await page.getByRole("heading", { name: "Group spring" }).count()).toBe(1);
    expect(await page.locator("[data-bots]").textContent()).toMatch(/Bot opens .*: \d+\./);
    expect(
      await page.locator("section.breakdown", { hasText: "By recipient domain" }).textContent(),
    ).toContain("isp.test");
    await page.screenshot({ path: join(SHOTS, "reports.png"), fullPage: true });

    // Phone width: the log still fits (no page-wide horizontal scroll).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "SMTP log" }).click();
    await page.locator(`a[data-id="${id}"]`).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, "log-phone.png"), fullPage: true });

    expect(await page.evaluate(() => (window as unknown as { __xss?: string }).__xss)).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(problems).toEqual(["PATCH /v1/accounts/shop 400"]);
  });

  it("an API key sees its own account only, read-only settings, and another account's message as not found", async () => {
    const { relay, send, api } = await startFleetOfOne();
    const otherId = await send("a@other.test", "someone@isp.test", "Other account's mail", "127.0.0.2");
    await send("news@shop.test", "reader@isp.test", "Shop mail");
    const made = await fetch(`${api}/v1/accounts/shop/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${relay.apiToken}` },
    });
    const { key } = (await made.json()) as { key: string };

    const browser = await openBrowser();
    const page = await browser.newPage();
    const problems = watchForErrors(page);
    await signIn(page, api, key);
    expect(await page.locator("#account option").allTextContents()).toEqual(["shop"]);
    await expect.poll(() => page.locator("#results tbody tr").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator("#results").textContent()).toContain("Shop mail");

    await page.goto(`${api}/console/#/message/${otherId}`);
    await page.getByText("no such message").waitFor();

    await page.goto(`${api}/console/#/settings`);
    await page.getByRole("button", { name: "Save settings" }).waitFor();
    expect(await page.getByRole("button", { name: "Save settings" }).isDisabled()).toBe(true);
    await page.getByText("settings are shown read-only").waitFor();

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin token or API key").waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("relayfleet.token"))).toBeNull();
    expect(problems).toEqual([`GET /v1/messages/${otherId} 404`]);
  });
});
