import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makeKeyring, signToken, type TokenClaims, verifyToken } from "./token.js";

const oldKey = { id: "k1", secret: Buffer.alloc(32, 1) };
const newKey = { id: "k2", secret: Buffer.alloc(32, 2) };
const keyring = makeKeyring(newKey, [oldKey]);

const click: TokenClaims = {
  kind: "click",
  messageId: "m-1",
  recipient: "ann@example.net",
  linkIndex: 3,
  url: "https://shop.example/reset?u=1&t=2",
};

describe("tracking tokens", () => {
  it("round-trips every kind and names the signing key", () => {
    expect(verifyToken(keyring, signToken(keyring, click))).toEqual({ ...click, keyId: "k2" });
    for (const kind of ["open", "unsub"] as const) {
      const claims = { kind, messageId: "m-1", recipient: "ann@example.net" };
      expect(verifyToken(keyring, signToken(keyring, claims))).toEqual({ ...claims, keyId: "k2" });
    }
  });

  it("keeps verifying tokens of a rotated-out key while it is listed, and not after (row 19)", () => {
    const before = makeKeyring(oldKey);
    const token = signToken(before, click);
    expect(verifyToken(keyring, token)?.keyId).toBe("k1");
    expect(verifyToken(makeKeyring(newKey), token)).toBeUndefined();
  });

  it("rejects any single bit flip, truncation or extension (row 19)", () => {
    const token = signToken(keyring, click);
    const raw = Buffer.from(token, "base64url");
    fc.assert(
      fc.property(fc.nat(raw.length * 8 - 1), (bit) => {
        const flipped = Buffer.from(raw);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(verifyToken(keyring, flipped.toString("base64url"))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
    expect(verifyToken(keyring, token.slice(0, -1))).toBeUndefined();
    expect(verifyToken(keyring, `${token}A`)).toBeUndefined();
    expect(verifyToken(keyring, "")).toBeUndefined();
    expect(verifyToken(keyring, "not a token!")).toBeUndefined();
  });

  it("binds the recipient and the URL: swapping either in a re-encoded payload fails", () => {
    const token = signToken(keyring, click);
    const raw = Buffer.from(token, "base64url");
    const swapped = Buffer.from(
      raw.toString("latin1").replace("ann@example.net", "bob@example.net"),
      "latin1",
    );
    expect(verifyToken(keyring, swapped.toString("base64url"))).toBeUndefined();
    const redirected = Buffer.from(raw.toString("latin1").replace("shop.example", "evil.example"), "latin1");
    expect(verifyToken(keyring, redirected.toString("base64url"))).toBeUndefined();
  });

  it("never verifies random strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."ABCabc019-_"), maxLength: 400 }), (text) => {
        expect(verifyToken(keyring, text)).toBeUndefined();
      }),
    );
  });

  it("round-trips arbitrary ids, recipients and URLs", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }),
        fc.emailAddress(),
        fc.nat(0xffff),
        fc.webUrl({ withQueryParameters: true, withFragments: true }),
        (messageId, recipient, linkIndex, url) => {
          const claims: TokenClaims = { kind: "click", messageId, recipient, linkIndex, url };
          expect(verifyToken(keyring, signToken(keyring, claims))).toEqual({ ...claims, keyId: "k2" });
        },
      ),
    );
  });

  it("refuses weak keys and bad key ids", () => {
    expect(() => makeKeyring({ id: "k1", secret: Buffer.alloc(16) })).toThrow(/shorter than 32/);
    expect(() => makeKeyring({ id: "k 1", secret: Buffer.alloc(32) })).toThrow(/not valid/);
  });
});
