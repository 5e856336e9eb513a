/**
 * What each copy gets: tracked links, the open pixel, ***uniqueid***, List-Unsubscribe, wrapping,
 * alternatives, encodings kept, X-Relay-* read and removed.
 */
import { decode as decodeQp } from "libqp";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { verifyToken } from "../../relay/tracking/token.js";
import { RelayHeaderError, readRelayHeaders } from "../../relay/transform/index.js";
import { contextFor, KEYRING, listLeaves, runCopy, TRACKING_BASE, testAccount, untrack } from "./support.js";

const head = "From: a@acme.com\r\nTo: b@example.net\r\nSubject: t\r\nMIME-Version: 1.0\r\n";
const htmlMessage = (html: string, cte = "7bit") =>
  Buffer.from(
    `${head}Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${html}\r\n`,
  );
const textMessage = (text: string, extra = "") =>
  Buffer.from(
    `${head}${extra}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${text}\r\n`,
  );
const noAlternative = { autoAlternative: false };

function clickUrls(text: string) {
  return [...text.matchAll(/https:\/\/t\.example\.com\/c\/([A-Za-z0-9_-]+)/g)].map((m) =>
    verifyToken(KEYRING, m[1]!),
  );
}

describe("HTML links", () => {
  it("tracks http(s) links of <a> and <area>, signing the entity-decoded URL", async () => {
    const html =
      '<html><body><a href="https://shop.example/reset?u=1&amp;t=2">reset</a>' +
      "<map><area shape=rect href='http://maps.example/x'></map></body></html>";
    const { output } = await runCopy(htmlMessage(html), contextFor(testAccount(noAlternative)));
    const text = (await simpleParser(output)).html || "";
    expect(clickUrls(text).map((p) => p?.kind === "click" && [p.linkIndex, p.url])).toEqual([
      [0, "https://shop.example/reset?u=1&t=2"],
      [1, "http://maps.example/x"],
    ]);
    expect(text).not.toContain("shop.example");
  });

  it("keeps mailto:, tel:, anchors, the unsubscribe link, tracking-domain links and marked links", async () => {
    const kept = [
      '<a href="mailto:help@acme.com">m</a>',
      '<a href="tel:+15551234">t</a>',
      '<a href="#top">a</a>',
      '<a href="https://acme.com/unsub/***uniqueid***">u</a>',
      `<a href="${TRACKING_BASE}/u/***uniqueid***">u2</a>`,
      `<a href="${TRACKING_BASE}/somewhere">t2</a>`,
      '<a data-relay-notrack href="https://bank.example/login">n</a>',
      '<a href="/relative">r</a>',
    ];
    const { output } = await runCopy(htmlMessage(kept.join("\r\n")), contextFor(testAccount(noAlternative)));
    const text = output.toString("latin1");
    expect(clickUrls(text)).toEqual([]);
    for (const link of [
      "mailto:help@acme.com",
      "tel:+15551234",
      '"#top"',
      "https://bank.example/login",
      "/relative",
    ]) {
      expect(text).toContain(link);
    }
    const unsubscribe = /https:\/\/t\.example\.com\/u\/([A-Za-z0-9_-]+)"/.exec(text)!;
    expect(verifyToken(KEYRING, unsubscribe[1]!)).toMatchObject({
      kind: "unsub",
      recipient: "rcpt@example.net",
    });
    expect(text).toContain(`https://acme.com/unsub/${unsubscribe[1]}`);
  });

  it("adds the open pixel before </body>, per text/html part", async () => {
    const { output } = await runCopy(
      htmlMessage("<html><body><p>hi</p></body></html>"),
      contextFor(testAccount()),
    );
    const pixel = /<img src="https:\/\/t\.example\.com\/o\/([A-Za-z0-9_-]+)\.gif"[^>]*\/><\/body>/.exec(
      output.toString(),
    );
    expect(verifyToken(KEYRING, pixel![1]!)).toMatchObject({ kind: "open", messageId: "msg-0001" });
  });

  it("X-Relay-Track turns tracking off for one message", async () => {
    const html = '<html><body><a href="https://shop.example/">x</a></body></html>';
    const ctx = contextFor(testAccount(noAlternative), { overrides: { opens: false, clicks: false } });
    const { output } = await runCopy(htmlMessage(html), ctx);
    expect(output.toString()).toContain('href="https://shop.example/"');
    expect(output.toString()).not.toContain("/o/");
  });
});

describe("text", () => {
  it("finds text links whole in parentheses and angle brackets (textClicks)", async () => {
    const text = "See (https://x.example/a_(b)). Or <https://y.example/p?q=1>, or https://z.example/end.";
    const account = testAccount({
      ...noAlternative,
      wrapColumn: 0,
      tracking: { opens: true, clicks: true, textClicks: true },
    });
    const { output } = await runCopy(textMessage(text), contextFor(account));
    const urls = clickUrls(output.toString()).map((p) => p?.kind === "click" && p.url);
    expect(urls).toEqual(["https://x.example/a_(b)", "https://y.example/p?q=1", "https://z.example/end"]);
    expect(untrack(output.toString())).toContain(text);
  });

  it("replaces ***uniqueid*** everywhere and adds List-Unsubscribe with the same token", async () => {
    const { output } = await runCopy(
      textMessage(
        `Unsubscribe: ${TRACKING_BASE}/u/***uniqueid*** (id ***uniqueid***)`,
        "X-Relay-Group: news\r\n",
      ),
      contextFor(testAccount(noAlternative)),
    );
    const text = output.toString();
    const header =
      /List-Unsubscribe: <https:\/\/t\.example\.com\/u\/([A-Za-z0-9_-]+)>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/.exec(
        text,
      );
    expect(header).not.toBeNull();
    expect(text).toContain(`${TRACKING_BASE}/u/${header![1]} (id ${header![1]})`);
    expect(text).not.toContain("***uniqueid***");
    expect(text).not.toContain("X-Relay-Group");
  });

  it("wraps long 7bit lines at wrapColumn without breaking URLs; leaves wrapped text alone", async () => {
    const url = `https://example.com/${"p".repeat(90)}`;
    const long = `${"word ".repeat(30)}${url} ${"tail ".repeat(20)}`.trim();
    const { output } = await runCopy(textMessage(long), contextFor(testAccount(noAlternative)));
    const [leaf] = await listLeaves(output);
    expect(leaf!.encoding).toBe("7bit");
    const lines = leaf!.body.toString().split("\r\n");
    expect(lines).toContain(url);
    expect(lines.filter((line) => line !== url).every((line) => line.length <= 76)).toBe(true);
    expect(lines.join(" ").trim()).toBe(long);

    const wrapped = `${"x".repeat(77)}\r\n${"y".repeat(40)}`;
    const same = await runCopy(textMessage(wrapped), contextFor(testAccount(noAlternative)));
    expect((await listLeaves(same.output))[0]!.body.toString()).toBe(`${wrapped}\r\n`);
    const off = await runCopy(
      textMessage(long),
      contextFor(testAccount({ ...noAlternative, wrapColumn: 0 })),
    );
    expect((await listLeaves(off.output))[0]!.body.toString()).toBe(`${long}\r\n`);
  });

  it("wraps format=flowed text with soft breaks", async () => {
    const long = "flow ".repeat(40).trim();
    const message = Buffer.from(
      `${head}Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n${long}\r\n`,
    );
    const { output } = await runCopy(message, contextFor(testAccount(noAlternative)));
    const body = (await listLeaves(output))[0]!.body.toString();
    expect(
      body
        .split("\r\n")
        .slice(0, -2)
        .every((line) => line.endsWith(" ")),
    ).toBe(true);
    expect((await simpleParser(output)).text?.replace(/\s+/g, " ").trim()).toBe(long);
  });
});

describe("encodings", () => {
  it("keeps base64 base64, quoted-printable quoted-printable, and a 7bit part whose lines fit 7bit", async () => {
    const html = '<html><body><a href="https://shop.example/">x</a> caf\u00e9</body></html>';
    for (const [cte, body] of [
      ["base64", Buffer.from(html).toString("base64")],
      ["quoted-printable", '<html><body><a href=3D"https://shop.example/">x</a> caf=C3=A9</body></html>'],
      ["8bit", html],
    ] as const) {
      const { output } = await runCopy(htmlMessage(body, cte), contextFor(testAccount(noAlternative)));
      const [leaf] = await listLeaves(output);
      expect([leaf!.encoding, leaf!.charset]).toEqual([cte, "utf-8"]);
      const parsed = await simpleParser(output);
      expect(untrack(parsed.html || "")).toContain('<a href="https://shop.example/">x</a> caf\u00e9');
    }
  });

  it("an HTML line longer than wrapColumn (or 998) moves to quoted-printable, losslessly (row 8)", async () => {
    const html = `<html><body><p>${"word ".repeat(10_000)}</p></body></html>`;
    const { output } = await runCopy(
      htmlMessage(html),
      contextFor(
        testAccount({ ...noAlternative, tracking: { opens: false, clicks: false, textClicks: false } }),
      ),
    );
    const [leaf] = await listLeaves(output);
    expect(leaf!.encoding).toBe("quoted-printable");
    expect(
      leaf!.body
        .toString()
        .split("\r\n")
        .every((line) => line.length <= 76),
    ).toBe(true);
    expect(decodeQp(leaf!.body).toString()).toBe(`${html}\r\n`);
  });
});

describe("autoAlternative", () => {
  it("gives a text-only message an HTML alternative with tracking", async () => {
    const { output } = await runCopy(
      textMessage("Hello <you> & https://shop.example/x"),
      contextFor(testAccount()),
    );
    const parsed = await simpleParser(output);
    expect(parsed.text?.trim()).toBe("Hello <you> & https://shop.example/x");
    expect(parsed.html).toContain("Hello &lt;you&gt; &amp; ");
    expect(untrack(parsed.html || "")).toContain('<a href="https://shop.example/x">');
    expect(parsed.html).toContain(`${TRACKING_BASE}/o/`);
    expect((await listLeaves(output)).map((l) => l.contentType)).toEqual(["text/plain", "text/html"]);
    expect(output.toString()).toMatch(
      /^Content-Type: multipart\/alternative;\r\n boundary="----=_relayfleet_/m,
    );
  });

  it("gives an HTML-only message a text alternative", async () => {
    const { output } = await runCopy(
      htmlMessage("<html><body><h1>Sale</h1><p>Now on</p></body></html>"),
      contextFor(testAccount()),
    );
    const parsed = await simpleParser(output);
    expect(parsed.text).toMatch(/SALE\s+Now on/);
    expect((await listLeaves(output)).map((l) => l.contentType)).toEqual(["text/plain", "text/html"]);
  });

  it("wraps the body text of a multipart/mixed, leaving the attachment byte for byte", async () => {
    const attachment = "AAECAwQFBgcICQ==";
    const message = Buffer.from(
      `${head}Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n` +
        `--m\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--m--\r\n`,
    );
    const { output } = await runCopy(message, contextFor(testAccount()));
    const leaves = await listLeaves(output);
    expect(leaves.map((l) => l.contentType)).toEqual(["text/plain", "text/html", "application/octet-stream"]);
    expect(leaves[2]!.body.toString()).toBe(attachment);
    expect((await simpleParser(output)).attachments[0]!.content.toString("base64")).toBe(attachment);
  });
});

describe("readRelayHeaders", () => {
  const block = (lines: string) => Buffer.from(`From: a@acme.com\r\n${lines}\r\n`);
  it("reads the group and the track switches", () => {
    expect(
      readRelayHeaders(block("X-Relay-Group: receipts\r\nX-Relay-Track: opens=off, clicks=on\r\n")),
    ).toEqual({
      group: "receipts",
      track: { opens: false, clicks: true },
    });
    expect(readRelayHeaders(block(""))).toEqual({ track: {} });
  });
  it("rejects control characters, repeats and nonsense (row 6)", () => {
    for (const bad of [
      "X-Relay-Group: a\rBcc: x@y\r\n",
      "X-Relay-Group: a\x00b\r\n",
      "X-Relay-Group: a\r\nX-Relay-Group: b\r\n",
      "X-Relay-Group: \r\n",
      "X-Relay-Track: opens=maybe\r\n",
      "X-Relay-Track: bcc=on\r\n",
    ]) {
      expect(() => readRelayHeaders(block(bad))).toThrow(RelayHeaderError);
    }
  });
});
