/** Pure decisions of the tracking server: routes, bot flags, client address, redirect target. */
import { describe, expect, it } from "vitest";
import { classifyClient } from "../../relay/tracking/bots.js";
import { clientAddress, proxyCheck } from "../../relay/tracking/client-address.js";
import { countryOf } from "../../relay/tracking/geoip.js";
import { escapeHtml } from "../../relay/tracking/pages.js";
import { redirectTarget, routeOf } from "../../relay/tracking/server.js";

describe("routeOf", () => {
  it("maps the three token paths and ignores the query", () => {
    expect(routeOf("/o/abc_DEF-123.gif?x=1")).toEqual({ kind: "open", token: "abc_DEF-123" });
    expect(routeOf("/c/abc?url=https://evil")).toEqual({ kind: "click", token: "abc" });
    expect(routeOf("/u/abc")).toEqual({ kind: "unsub", token: "abc" });
  });
  it("rejects everything else", () => {
    for (const path of [
      "/o/abc",
      "/c/abc.gif",
      "/u/abc/",
      "/c/a%2Fb",
      "/c/",
      "/x/abc",
      "/c/abc/../evil",
      "//c/abc",
    ]) {
      expect(routeOf(path), path).toEqual({ kind: "none" });
    }
  });
});

describe("classifyClient", () => {
  const human = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)";
  it("lets a mail reader's browser through", () => {
    expect(classifyClient({ method: "GET", userAgent: human, ip: "81.2.69.160" })).toEqual({ bot: false });
  });
  it.each([
    [{ userAgent: "Mozilla/5.0", ip: "81.2.69.160" }, "apple-mpp"],
    [{ userAgent: human, ip: "17.58.100.1" }, "apple-mpp"],
    [{ userAgent: human, ip: "::ffff:17.58.100.1" }, "apple-mpp"],
    [{ userAgent: "Mozilla/5.0 (via ggpht.com GoogleImageProxy)", ip: "66.249.1.1" }, "gmail-image-proxy"],
    [
      {
        userAgent: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
        ip: "1.1.1.1",
      },
      "yahoo-image-proxy",
    ],
    [{ userAgent: "Mozilla/5.0 Proofpoint URL Defense", ip: "1.1.1.1" }, "link-scanner"],
    [{ userAgent: "Mozilla/5.0 (compatible; Googlebot/2.1)", ip: "1.1.1.1" }, "automated-client"],
    [{ userAgent: "curl/8.5.0", ip: "1.1.1.1" }, "automated-client"],
    [{ userAgent: "   ", ip: "1.1.1.1" }, "no-user-agent"],
    [{ userAgent: undefined, ip: "1.1.1.1" }, "no-user-agent"],
  ])("flags %o as %s", (hit, reason) => {
    expect(classifyClient({ method: "GET", ...hit })).toEqual({ bot: true, reason });
  });
  it("flags HEAD whatever the user agent", () => {
    expect(classifyClient({ method: "HEAD", userAgent: human, ip: "81.2.69.160" }).reason).toBe(
      "head-request",
    );
  });
});

describe("clientAddress", () => {
  const trusted = proxyCheck(["10.0.0.0/8"]);
  it("uses the socket peer when it is not a trusted proxy", () => {
    expect(clientAddress("81.2.69.160", "1.2.3.4", trusted)).toBe("81.2.69.160");
    expect(clientAddress("10.0.0.1", undefined, trusted)).toBe("10.0.0.1");
    expect(clientAddress("10.0.0.1", "1.2.3.4", proxyCheck([]))).toBe("10.0.0.1");
  });
  it("walks X-Forwarded-For from the right past trusted proxies only", () => {
    expect(clientAddress("10.0.0.1", "6.6.6.6, 81.2.69.160, 10.0.0.7", trusted)).toBe("81.2.69.160");
    expect(clientAddress("10.0.0.1", ["6.6.6.6", "81.2.69.160"], trusted)).toBe("81.2.69.160");
    expect(clientAddress("10.0.0.1", "10.0.0.3, 10.0.0.2", trusted)).toBe("10.0.0.3");
  });
  it("stops at garbage and keeps the last trusted hop", () => {
    expect(clientAddress("10.0.0.1", "81.2.69.160, <script>, 10.0.0.9", trusted)).toBe("10.0.0.9");
    expect(clientAddress("10.0.0.1", "unknown", trusted)).toBe("10.0.0.1");
  });
});

describe("redirectTarget", () => {
  const base = { keyId: "k1", messageId: "M", recipient: "a@b.c", linkIndex: 0 };
  it("re-serialises the signed URL so it is a valid header", () => {
    expect(redirectTarget({ ...base, kind: "click", url: "https://x.example/a b?q=é" })).toBe(
      "https://x.example/a%20b?q=%C3%A9",
    );
    expect(redirectTarget({ ...base, kind: "click", url: "https://x.example/\r\nSet-Cookie: a=b" })).toBe(
      "https://x.example/Set-Cookie:%20a=b",
    );
  });
  it("refuses anything but http(s), and non-click tokens", () => {
    expect(redirectTarget({ ...base, kind: "click", url: "javascript:alert(1)" })).toBeUndefined();
    expect(redirectTarget({ ...base, kind: "click", url: "not a url" })).toBeUndefined();
    expect(redirectTarget({ keyId: "k1", messageId: "M", recipient: "a@b.c", kind: "open" })).toBeUndefined();
  });
});

describe("countryOf and escapeHtml", () => {
  it("looks IPv4 (and IPv4-mapped) addresses up offline; unknown is undefined", () => {
    expect(countryOf("81.2.69.160")).toBe("GB");
    expect(countryOf("::ffff:8.8.8.8")).toBe("US");
    expect(countryOf("127.0.0.1")).toBeUndefined();
    expect(countryOf("2001:db8::1")).toBeUndefined();
    expect(countryOf(undefined)).toBeUndefined();
  });
  it("escapes every character that could open a tag or close an attribute", () => {
    expect(escapeHtml(`<a href="x" title='y'>&\``)).toBe(
      "&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#96;",
    );
  });
});
