/** A real HTTP receiver on loopback that records every webhook POST and answers as a test scripts it. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, onTestFinished, vi } from "vitest";

export interface ReceivedPost {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A status to answer, or "hang": read the request and never answer. */
export type Answer = number | "hang";

export interface Receiver {
  url: string;
  posts: ReceivedPost[];
  /** Waits until at least `count` POSTs arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedPost[]>;
}

export async function startReceiver(answer: (index: number) => Answer = () => 200): Promise<Receiver> {
  const posts: ReceivedPost[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const index = posts.length;
      posts.push({
        path: request.url ?? "/",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      const reply = answer(index);
      if (reply === "hang") {
        hanging.push(response);
        return;
      }
      response.writeHead(reply, { "content-type": "text/plain" });
      response.end(reply >= 400 ? "no" : "ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(async () => {
    for (const response of hanging) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    posts,
    async waitFor(count, timeoutMs = 5000) {
      await vi.waitFor(() => expect(posts.length).toBeGreaterThanOrEqual(count), {
        timeout: timeoutMs,
        interval: 10,
      });
      return posts;
    },
  };
}
