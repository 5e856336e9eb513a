/**
 * Shared helpers for the transform tests: a test account, running a copy to a Buffer, listing a
 * message's MIME leaves (with mailsplit, independent of the transform's own bookkeeping), and
 * mapping tracking URLs back to what they stand for.
 */
import { generateKeyPairSync } from "node:crypto";
import { Readable } from "node:stream";
import type { SplitterObject } from "mailsplit";
import { type Account, accountSchema, type DkimKey } from "../../relay/accounts/schema.js";
import { makeKeyring, type TokenKeyring, verifyToken } from "../../relay/tracking/token.js";
import {
  type TransformContext,
  type TransformSummary,
  transformForRecipient,
} from "../../relay/transform/index.js";
import { MimeSplitter } from "../../relay/transform/splitter.js";

export const TRACKING_BASE = "https://t.example.com";
export const KEYRING: TokenKeyring = makeKeyring({ id: "k2", secret: Buffer.alloc(32, 0x42) }, [
  { id: "k1", secret: Buffer.alloc(32, 0x41) },
]);

export function testAccount(overrides: Record<string, unknown> = {}): Account {
  return accountSchema.parse({ name: "acme", createdAt: 0, updatedAt: 0, ...overrides });
}

export function contextFor(account: Account, extra: Partial<TransformContext> = {}): TransformContext {
  return {
    mode: "full",
    messageId: "msg-0001",
    recipient: "rcpt@example.net",
    envelopeFrom: "sender@acme.com",
    account,
    trackingBaseUrl: TRACKING_BASE,
    tokenKeys: KEYRING,
    ...extra,
  };
}

export async function runCopy(
  input: Buffer | Buffer[],
  ctx: TransformContext,
): Promise<{ output: Buffer; summary: TransformSummary }> {
  let summary: TransformSummary | undefined;
  const source = Readable.from(Array.isArray(input) ? input : [input]);
  const chunks: Buffer[] = [];
  for await (const chunk of transformForRecipient(source, { ...ctx, onSummary: (s) => (summary = s) })) {
    chunks.push(chunk as Buffer);
  }
  if (!summary) throw new Error("no summary");
  return { output: Buffer.concat(chunks), summary };
}

export interface Leaf {
  contentType: string;
  encoding: string;
  charset: string;
  attachment: boolean;
  /** Inside a multipart/alternative the relay made. */
  relayAlternative: boolean;
  /** A part the relay generated (set by markGenerated). */
  generated: boolean;
  /** Raw encoded body. */
  body: Buffer;
}

/** The message's leaf parts in order, as mailsplit sees them. */
export async function listLeaves(message: Buffer): Promise<Leaf[]> {
  const splitter = new MimeSplitter({ ignoreEmbedded: true, maxChildNodes: 100_000 });
  const leaves: Leaf[] = [];
  const bodies = new Map<unknown, Buffer[]>();
  splitter.on("data", (object: SplitterObject) => {
    if (object.type === "node") {
      if (object.multipart) return;
      const parent = object.parentNode || undefined;
      const parentBoundary = parent?._boundary ? parent._boundary.toString() : "";
      const chunks: Buffer[] = [];
      bodies.set(object, chunks);
      leaves.push({
        contentType: object.contentType || "text/plain",
        encoding: object.encoding || "7bit",
        charset: (object.charset || "").toLowerCase(),
        attachment: Boolean((object.disposition && object.disposition !== "inline") || object.filename),
        relayAlternative: parentBoundary.startsWith("----=_relayfleet_"),
        generated: false,
        body: Buffer.alloc(0),
      });
      (leaves[leaves.length - 1] as Leaf & { key?: unknown }).key = object;
    } else if (object.type === "body") {
      bodies.get(object.node)?.push(object.value);
    }
  });
  await new Promise<void>((resolve, reject) => {
    splitter.on("end", resolve);
    splitter.on("error", reject);
    splitter.end(message);
  });
  for (const leaf of leaves as (Leaf & { key?: unknown })[]) {
    leaf.body = Buffer.concat(bodies.get(leaf.key) ?? []);
    delete leaf.key;
  }
  return leaves;
}

/**
 * In each multipart/alternative the relay made, one leaf is the sender's (the type the original
 * had at that place) and the other is generated.
 */
export function markGenerated(before: Leaf[], after: Leaf[]): void {
  let j = 0;
  for (let i = 0; i < after.length; i++) {
    const leaf = after[i]!;
    const pair = after[i + 1];
    if (leaf.relayAlternative && pair?.relayAlternative) {
      const senderFirst = leaf.contentType === before[j]?.contentType;
      (senderFirst ? pair : leaf).generated = true;
      i++;
    }
    j++;
  }
}

const TRACKED = /https:\/\/t\.example\.com\/([cuo])\/([A-Za-z0-9_-]+)(\.gif)?/g;

/**
 * Undoes the intended edits in text: a click URL becomes the URL it signs, the unsubscribe
 * token becomes ***uniqueid*** again; a tracking URL that does not verify is left, so a test fails.
 */
export function untrack(text: string): string {
  return text.replace(TRACKED, (found, kind: string, token: string) => {
    const payload = verifyToken(KEYRING, token);
    if (!payload) return found;
    if (kind === "c" && payload.kind === "click") return payload.url;
    return found;
  });
}

export function unsubscribeTokenIn(text: string): string | undefined {
  for (const match of text.matchAll(TRACKED)) {
    const payload = verifyToken(KEYRING, match[2]!);
    if (payload?.kind === "unsub") return match[2];
  }
  return undefined;
}

export function rsaKey(domain: string, selector = "rsa1"): { key: DkimKey; dnsTxt: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    key: { domain, selector, privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString() },
    dnsTxt: `v=DKIM1; k=rsa; p=${publicKey.export({ type: "spki", format: "der" }).toString("base64")}`,
  };
}

export function ed25519Key(domain: string, selector = "ed1"): { key: DkimKey; dnsTxt: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ type: "spki", format: "der" }).subarray(-32);
  return {
    key: {
      domain,
      selector,
      algorithm: "ed25519-sha256",
      privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    },
    dnsTxt: `v=DKIM1; k=ed25519; p=${raw.toString("base64")}`,
  };
}
