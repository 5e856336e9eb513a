/**
 * The benchmark's messages, as CRLF bytes with no line starting with "."
 * (so no dot-stuffing is needed): 2 KB plain text, 10 KB HTML with 20 links,
 * a 100 KB message with a PDF-like attachment, a marathon alert, and a
 * streamed message of any size (the 100 MB case).
 */
import { randomBytes } from "node:crypto";

export type Kind = "text2k" | "html10k" | "attach100k";

export const KIND_LABEL: Record<Kind, string> = {
  text2k: "2 KB text",
  html10k: "10 KB HTML, 20 links",
  attach100k: "100 KB attachment",
};

const LOREM =
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.";

function headers(from: string, to: string, subject: string, extra: string[], benchId?: string): string {
  return [
    `From: Bench <${from}>`,
    `To: <${to}>`,
    `Subject: ${subject}`,
    "Date: Sun, 1 Nov 2009 10:00:00 -0500",
    `Message-ID: <${benchId ?? "bench"}.${Math.random().toString(36).slice(2)}@bench.test>`,
    ...(benchId ? [`X-Bench-Id: ${benchId}`] : []),
    "MIME-Version: 1.0",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n");
}

export function makeMessage(kind: Kind, from: string, to: string, benchId?: string): Buffer {
  if (kind === "text2k") {
    let body = "";
    while (body.length < 2048 - 400) body += `${LOREM}\r\n`;
    return Buffer.from(
      headers(from, to, "Your receipt", ["Content-Type: text/plain; charset=utf-8"], benchId) + body,
    );
  }
  if (kind === "html10k") {
    const links = Array.from(
      { length: 20 },
      (_, i) =>
        `<p>Item ${i}: <a href="https://shop.example.com/product/${i}?utm_source=mail&amp;id=${i}">see item ${i}</a></p>`,
    );
    let html = `<html><head><title>Offer</title></head><body><h1>Spring sale</h1>\r\n${links.join("\r\n")}\r\n`;
    while (html.length < 10_000 - 300) html += `<p>${LOREM}</p>\r\n`;
    html += "</body></html>\r\n";
    return Buffer.from(
      headers(
        from,
        to,
        "Spring sale",
        ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 7bit"],
        benchId,
      ) + html,
    );
  }
  const boundary = "bench-boundary-1";
  const attachment = base64Lines(randomBytes(72 * 1024));
  return Buffer.from(
    headers(from, to, "Your invoice", [`Content-Type: multipart/mixed; boundary="${boundary}"`], benchId) +
      `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${LOREM}\r\n` +
      `--${boundary}\r\nContent-Type: application/pdf; name="invoice.pdf"\r\n` +
      `Content-Disposition: attachment; filename="invoice.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
      `${attachment}\r\n--${boundary}--\r\n`,
  );
}

/** A 2009-style runner alert: short HTML with the split time and 4 links (tracked in full mode). */
export function alertMessage(from: string, to: string, benchId: string, runner: number, checkpoint: string) {
  const links = ["results", "map", "photos", "unsubscribe"].map(
    (what) => `<a href="https://results.nyrr.example/${what}/${runner}">${what}</a>`,
  );
  const html =
    `<html><body><p>Runner ${runner} passed ${checkpoint}.</p><p>${LOREM}</p>` +
    `<p>${links.join(" | ")}</p></body></html>\r\n`;
  return Buffer.from(
    headers(
      from,
      to,
      `Runner ${runner}: ${checkpoint}`,
      ["Content-Type: text/html; charset=utf-8"],
      benchId,
    ) + html,
  );
}

/**
 * A message of exactly `totalBytes` (before the final ".") streamed in 64 KB
 * chunks: a short text part and one base64 attachment of random-looking data
 * (generated once per chunk pattern, so the generator itself stays small).
 */
export async function* bigMessage(from: string, to: string, totalBytes: number, benchId: string) {
  const boundary = "bench-big-1";
  const start = Buffer.from(
    headers(from, to, "Big attachment", [`Content-Type: multipart/mixed; boundary="${boundary}"`], benchId) +
      `--${boundary}\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--${boundary}\r\n` +
      `Content-Type: application/octet-stream; name="big.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
  );
  const end = Buffer.from(`--${boundary}--\r\n`);
  const line = 78; // 76 base64 characters + CRLF
  const linesPerChunk = Math.floor((64 * 1024) / line);
  const pattern = Buffer.from(
    Array.from({ length: linesPerChunk }, () => `${randomBytes(57).toString("base64")}\r\n`).join(""),
  );
  yield start;
  let left = totalBytes - start.length - end.length;
  while (left >= line) {
    const lines = Math.min(linesPerChunk, Math.floor(left / line));
    yield pattern.subarray(0, lines * line);
    left -= lines * line;
  }
  // Pad the last few bytes with a short base64 line so the total is exact.
  if (left > 2) yield Buffer.from(`${"A".repeat(left - 2)}\r\n`);
  yield end;
}
