/// <reference lib="dom" />
/**
 * Calls to the /v1 API with the signed-in token. The token lives in
 * sessionStorage (gone with the tab) and only ever travels in the
 * Authorization header, never in a URL.
 */

const TOKEN_KEY = "relayfleet.token";

export interface FieldIssue {
  field: string;
  message: string;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(value: string): void {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export interface Answer<T> {
  body: T;
  nextCursor: string | undefined;
}

export async function call<T>(method: string, path: string, body?: unknown, accept = "application/json") {
  const headers: Record<string, string> = { authorization: `Bearer ${token() ?? ""}`, accept };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    cache: "no-store",
    credentials: "omit",
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let issues: FieldIssue[] = [];
    try {
      const parsed = JSON.parse(text) as { message?: string; issues?: FieldIssue[] };
      message = parsed.message ?? message;
      issues = parsed.issues ?? [];
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiFailure(response.status, message, issues);
  }
  const parsed = text && accept === "application/json" ? (JSON.parse(text) as T) : (text as T);
  return { body: parsed, nextCursor: response.headers.get("x-next-cursor") ?? undefined } as Answer<T>;
}

export const get = <T>(path: string) => call<T>("GET", path);
export const enc = encodeURIComponent;
