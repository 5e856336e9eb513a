/**
 * One webhook POST over node:http(s): the I/O shell around policy.ts. Never
 * throws: every way it can end is an AttemptResult. The whole exchange, from
 * DNS to the response's status line, must fit in `timeoutMs`; the response
 * body is read (up to a small cap) and thrown away.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { type AttemptResult, parseRetryAfter } from "./policy.js";
import { checkTargetUrl, type TargetCheck, TargetRefusedError } from "./targets.js";

export interface PostRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Cancels the request (e.g. at shutdown); ends as a network failure. */
  signal?: AbortSignal;
}

export type PostWebhook = (request: PostRequest) => Promise<AttemptResult>;

/** Response bytes read before the connection is dropped: nobody reads a webhook's answer. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export function httpPoster(allowed: TargetCheck, lookup: LookupFunction): PostWebhook {
  return (post) =>
    new Promise<AttemptResult>((resolve) => {
      const checked = checkTargetUrl(post.url, allowed);
      if (!checked.ok) {
        resolve({ kind: "refused", message: `target refused: ${checked.reason}` });
        return;
      }
      let settled = false;
      const finish = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const send = checked.url.protocol === "https:" ? httpsRequest : httpRequest;
      const request = send(checked.url, {
        method: "POST",
        lookup,
        agent: false,
        headers: { ...post.headers, "content-length": String(Buffer.byteLength(post.body)) },
        ...(post.signal ? { signal: post.signal } : {}),
      });
      const timer = setTimeout(() => {
        finish({ kind: "timeout" });
        request.destroy();
      }, post.timeoutMs);
      request.on("response", (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const retryAfterMs = parseRetryAfter(response.headers["retry-after"], Date.now());
        finish({ kind: "response", status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
        let read = 0;
        response.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) response.destroy();
        });
        response.on("error", () => undefined);
      });
      request.on("error", (error: Error) => {
        if (error instanceof TargetRefusedError)
          finish({ kind: "refused", message: `target refused: ${error.message}` });
        else finish({ kind: "network", message: error.message });
      });
      request.end(post.body);
    });
}
