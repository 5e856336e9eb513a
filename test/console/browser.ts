/** Debian's chromium driven by playwright-core: headless, no network beyond loopback, a fresh profile per run. */
import { type BrowserContext, chromium } from "playwright-core";
import { onTestFinished } from "vitest";
import { tempDir } from "../support/temp-dir.js";

export async function openBrowser(): Promise<BrowserContext> {
  const profile = await tempDir("relayfleet-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  onTestFinished(() => context.close());
  return context;
}
