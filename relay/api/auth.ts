/**
 * Who is calling: the admin token (everything) or an account's API key (that
 * account's data only). Keys are `rfk_<id>_<secret>`; only the sha256 of the
 * whole key is stored (32 random bytes need no slow hash), and it is shown once.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Store } from "../store/types.js";
import type { ApiKeyRecord } from "../vocabulary.js";
import type { Access } from "./endpoint.js";
import { ApiError } from "./http.js";

export type Principal =
  | { role: "admin" }
  | { role: "account"; account: string; keyId: string }
  /** No token asked for (a public endpoint: the probes). */
  | { role: "anonymous" };

export function bearerOf(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization ?? "";
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Constant time in the token's length: a wrong guess teaches nothing about the right one. */
export function tokensEqual(given: string, wanted: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(wanted).digest();
  return timingSafeEqual(a, b) && given.length === wanted.length;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function newApiKey(account: string, now: number): { key: string; record: ApiKeyRecord } {
  const id = randomBytes(6).toString("hex");
  const key = `rfk_${id}_${randomBytes(32).toString("base64url")}`;
  return { key, record: { id, account, hash: hashApiKey(key), createdAt: now } };
}

const UNAUTHORIZED = () =>
  new ApiError("unauthorized", "send Authorization: Bearer with the admin token or an API key", [], {
    "www-authenticate": 'Bearer realm="relayfleet"',
  });

/**
 * The one bearer check of the API listener, for an endpoint's access level
 * (endpoint.ts): public asks for nothing, fleet takes the admin token alone,
 * the others also an API key (whose reach each endpoint then checks).
 */
export async function authenticate(
  access: Access,
  request: IncomingMessage,
  adminToken: string,
  store: Store,
): Promise<Principal> {
  if (access === "public") return { role: "anonymous" };
  const token = bearerOf(request);
  if (!token) throw UNAUTHORIZED();
  if (tokensEqual(token, adminToken)) return { role: "admin" };
  if (access === "fleet") throw UNAUTHORIZED();
  if (!/^rfk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/.test(token)) throw UNAUTHORIZED();
  const record = await store.findApiKey(hashApiKey(token));
  if (!record) throw UNAUTHORIZED();
  return { role: "account", account: record.account, keyId: record.id };
}

export function canSee(principal: Principal, account: string): boolean {
  return principal.role === "admin" || (principal.role === "account" && principal.account === account);
}

export function requireAdmin(principal: Principal): void {
  if (principal.role !== "admin") throw new ApiError("forbidden", "this call needs the admin token");
}

export function requireAccount(principal: Principal, account: string): void {
  if (!canSee(principal, account)) throw new ApiError("forbidden", "this API key belongs to another account");
}
