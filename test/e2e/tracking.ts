/**
 * A recipient reading a delivered copy: its HTML parsed as a mail client
 * would, the open pixel loaded and the tracked link followed, with a
 * browser's user agent (an HTTP library's would be counted as a bot).
 */
import { simpleParser } from "mailparser";

const BROWSER =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

export interface ReadResult {
  /** The tracked href of the message's one link, and where following it led. */
  link: string;
  clickStatus: number;
  clickLocation: string | null;
  pixel: string;
  openStatus: number;
  openType: string | null;
}

/** The hrefs of <a> tags and the srcs of <img> tags in a copy's HTML. */
export async function linksOf(raw: Buffer): Promise<{ hrefs: string[]; images: string[] }> {
  const parsed = await simpleParser(raw);
  const html = typeof parsed.html === "string" ? parsed.html : "";
  const attr = (tag: string, name: string) =>
    [...html.matchAll(new RegExp(`<${tag}\\b[^>]*\\b${name}="([^"]+)"`, "gi"))].map((m) =>
      (m[1] as string).replace(/&amp;/g, "&"),
    );
  return { hrefs: attr("a", "href"), images: attr("img", "src") };
}

export async function readCopy(raw: Buffer): Promise<ReadResult> {
  const { hrefs, images } = await linksOf(raw);
  const link = hrefs[0];
  const pixel = images[0];
  if (!link || !pixel)
    throw new Error(`no tracked link or open pixel in the copy (links ${hrefs}, images ${images})`);
  const headers = { "user-agent": BROWSER };
  const open = await fetch(pixel, { headers, signal: AbortSignal.timeout(10_000) });
  await open.arrayBuffer();
  const click = await fetch(link, { headers, redirect: "manual", signal: AbortSignal.timeout(10_000) });
  await click.arrayBuffer();
  return {
    link,
    clickStatus: click.status,
    clickLocation: click.headers.get("location"),
    pixel,
    openStatus: open.status,
    openType: open.headers.get("content-type"),
  };
}
