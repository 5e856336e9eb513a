import { describe, expect, it } from "vitest";
import { interpretMx, MxCache, orderMx } from "../../relay/delivery/mx.js";
import { isSafeEnvelopeAddress, receivedHeader } from "../../relay/delivery/received.js";

describe("envelope addresses", () => {
  it.each([
    ["a@b.test", true],
    ['"john doe"@b.test', true],
    ["user%evil.test@relay.test", true],
    ["a@[192.0.2.1]", true],
    ["a@b.test\r\nRCPT TO:<x@y>", false],
    ["a@b.test>", false],
    ["<a@b.test", false],
    ["@b.test", false],
    ["a@", false],
    ['a@b"c', false],
    [" a@b.test", false],
    ["", false],
  ])("%j is safe: %s", (address, safe) => {
    expect(isSafeEnvelopeAddress(address)).toBe(safe);
  });

  it("allows the null sender only where asked", () => {
    expect(isSafeEnvelopeAddress("", { allowNull: true })).toBe(true);
  });
});

describe("Received header", () => {
  it("names the client, us, the protocol, the id and the recipient, and keeps client text harmless", () => {
    const header = receivedHeader(
      {
        v: 1,
        id: "abc",
        account: "acme",
        from: "f@acme.test",
        to: ["r@x.test"],
        clientIp: "192.0.2.9",
        heloName: "evil (\r\nBcc: x@y)",
        receivedAt: Date.UTC(2025, 0, 2, 3, 4, 5),
        listener: "127.0.0.1:2525",
        transmissionType: "ESMTPSA",
        refused: [],
      },
      "r@x.test",
      "relay.test",
    ).toString();
    expect(header).toBe(
      "Received: from evilBcc:x@y ([192.0.2.9])\r\n\tby relay.test (relayfleet)\r\n\twith ESMTPSA id abc\r\n\tfor <r@x.test>;\r\n\tThu, 02 Jan 2025 03:04:05 +0000\r\n",
    );
  });
});

describe("MX", () => {
  it("orders by preference and drops the root dot", () => {
    const hosts = orderMx(
      [
        { exchange: "b.mx.test.", priority: 20 },
        { exchange: "a.mx.test", priority: 10 },
      ],
      () => 0.5,
    );
    expect(hosts).toEqual(["a.mx.test", "b.mx.test"]);
  });

  it("treats null MX, NXDOMAIN, no MX and failures as RFC 5321 and 7505 say", () => {
    expect(interpretMx("x.test", [{ exchange: ".", priority: 0 }])).toMatchObject({
      kind: "bounce",
      status: "5.1.10",
    });
    expect(interpretMx("x.test", { code: "ENOTFOUND", message: "" })).toMatchObject({
      kind: "bounce",
      status: "5.1.2",
    });
    expect(interpretMx("x.test", { code: "ENODATA", message: "" })).toEqual({
      kind: "hosts",
      hosts: ["x.test"],
    });
    expect(interpretMx("x.test", { code: "ETIMEOUT", message: "" })).toMatchObject({ kind: "defer" });
  });

  it("caches answers but not temporary failures", async () => {
    let calls = 0;
    let fail = true;
    const cache = new MxCache(async () => {
      calls++;
      if (fail) throw Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
      return [{ exchange: "127.0.0.1", priority: 10 }];
    });
    expect((await cache.lookup("x.test")).kind).toBe("defer");
    fail = false;
    expect(await cache.lookup("x.test")).toEqual({ kind: "hosts", hosts: ["127.0.0.1"] });
    await cache.lookup("x.test");
    expect(calls).toBe(2);
  });
});
