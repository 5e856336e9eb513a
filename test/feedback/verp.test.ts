/**
 * VERP return paths: they name the message and recipient, survive
 * lower-casing, fit the 64-octet local part, and cannot be forged or
 * altered (HOSTILE-INPUTS row 19, for return paths).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  findVerpClaims,
  readVerpAddress,
  recipientHash,
  returnPathFor,
  verpAddress,
} from "../../relay/feedback/index.js";
import { createIdGenerator } from "../../relay/spool/id.js";
import { makeKeyring } from "../../relay/tracking/token.js";

const keyA = { id: "a", secret: Buffer.alloc(32, 1) };
const keyB = { id: "b", secret: Buffer.alloc(32, 2) };
const settings = { domain: "bounces.relay.test", prefix: "bounces", keys: makeKeyring(keyA) };
const newId = createIdGenerator();

describe("VERP addresses", () => {
  it("name the message and the recipient, in lower case, within 64 octets of local part", () => {
    const id = newId();
    const address = verpAddress(settings, id, "Reader@ISP.test");
    expect(address).toMatch(/^bounces\+[0-9a-z]{23}-[a-z2-7]{24}@bounces\.relay\.test$/);
    expect(address.split("@")[0]?.length).toBeLessThanOrEqual(64);
    const claim = readVerpAddress(settings, address);
    expect(claim?.messageId).toBe(id);
    expect(claim?.recipientHash.equals(recipientHash("reader@isp.test"))).toBe(true);
    expect(readVerpAddress(settings, address.toUpperCase())?.messageId).toBe(id);
    const longest = verpAddress({ ...settings, prefix: "abcdefghijklmno" }, id, "r@x.test");
    expect(longest.split("@")[0]?.length).toBe(64);
  });

  it("refuse every altered character, a truncated or lengthened code, another domain or prefix, and another key", () => {
    const id = newId();
    const address = verpAddress(settings, id, "reader@isp.test");
    const [local, domain] = address.split("@") as [string, string];
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    for (let i = "bounces+".length; i < local.length; i++) {
      if (local[i] === "-") continue;
      const pool = i < "bounces+".length + 23 ? "0123456789abcdefghijklmnopqrstuvwxyz" : alphabet;
      const other = pool[(pool.indexOf(local[i] as string) + 1) % pool.length] as string;
      const forged = `${local.slice(0, i)}${other}${local.slice(i + 1)}@${domain}`;
      expect(readVerpAddress(settings, forged), forged).toBeUndefined();
    }
    expect(readVerpAddress(settings, `${local.slice(0, -1)}@${domain}`)).toBeUndefined();
    expect(readVerpAddress(settings, `${local}a@${domain}`)).toBeUndefined();
    expect(readVerpAddress(settings, `${local}@other.test`)).toBeUndefined();
    expect(readVerpAddress(settings, `${local.replace("bounces+", "bounce+")}@${domain}`)).toBeUndefined();
    expect(readVerpAddress({ ...settings, keys: makeKeyring(keyB) }, address)).toBeUndefined();
    // A rotated keyring still verifies what the previous key signed.
    expect(readVerpAddress({ ...settings, keys: makeKeyring(keyB, [keyA]) }, address)?.messageId).toBe(id);
  });

  it("random local parts at the bounce domain never verify", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-z]{23}$/), fc.stringMatching(/^[a-z2-7]{24}$/), (id, code) => {
        expect(readVerpAddress(settings, `bounces+${id}-${code}@bounces.relay.test`)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it("are found in report text (an ARF Original-Mail-From, a returned Return-Path), forged ones skipped", () => {
    const id = newId();
    const good = verpAddress(settings, id, "r@isp.test");
    const forged = good.replace(/([a-z2-7])@/, (_, last: string) => `${last === "a" ? "b" : "a"}@`);
    expect(forged).not.toBe(good);
    const text = `Original-Mail-From: <${good.toUpperCase()}>\nReturn-Path: <${forged}>\n`;
    expect(findVerpClaims(settings, text).map((c) => c.messageId)).toEqual([id]);
  });

  it("the null sender and foreign IDs keep their own return path", () => {
    const returnPath = returnPathFor(settings);
    expect(returnPath(newId(), "", "r@isp.test")).toBe("");
    expect(returnPath("not-an-id", "news@shop.test", "r@isp.test")).toBe("news@shop.test");
    expect(returnPath(newId(), "news@shop.test", "r@isp.test")).toMatch(/^bounces\+/);
  });
});
