/** An API server on loopback over a real store, plus a small client that keeps every answer for the OpenAPI check. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { createApiHandler } from "../../relay/api/server.js";
import { createMetrics } from "../../relay/metrics/index.js";
import { HandoffRefused } from "../../relay/spool/handoff.js";
import { Quarantine } from "../../relay/spool/quarantine.js";
import type { Store } from "../../relay/store/types.js";
import { tempDir } from "../support/temp-dir.js";
import { openTestStore, type StoreKind } from "../tracking/fixture.js";

export const ADMIN_TOKEN = "admin-token-for-tests-0123456789";

export interface Exchange {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: string;
}

export interface ApiClient {
  base: string;
  store: Store;
  metrics: ReturnType<typeof createMetrics>;
  drained: { value: boolean };
  /** Every answer so far (for checking against the OpenAPI document). */
  exchanges: Exchange[];
  call(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; text: string; json: () => unknown }>;
}

export async function startApi(kind: StoreKind = "local", exchanges: Exchange[] = []): Promise<ApiClient> {
  const store = await openTestStore(kind);
  const metrics = createMetrics({ defaultMetrics: false });
  const drained = { value: false };
  // An empty quarantine on a spool of its own (quarantining is tested on whole relays, test/faults/poison.test.ts).
  const spoolDir = await tempDir();
  const quarantine = new Quarantine(spoolDir, join(spoolDir, "queue"));
  const server = createServer(
    createApiHandler({
      store,
      apiToken: ADMIN_TOKEN,
      registry: metrics.registry,
      lifecycle: {
        isDraining: () => drained.value,
        drain: async () => {
          drained.value = true;
        },
        storeReady: () => store.ping(),
        // This fixture has no spool: hand-off is tested on whole relays (test/relay/handoff.test.ts).
        sharedStore: false,
        handOff: () => undefined,
        takeHandoff: async () => {
          throw new HandoffRefused(503, "this API fixture has no spool");
        },
      },
      quarantine: {
        list: () => quarantine.list(),
        release: async (id) => (await quarantine.release(id)) !== undefined,
      },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    store,
    metrics,
    drained,
    exchanges,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? ADMIN_TOKEN : options.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
        headers["content-type"] ??= "application/json";
      }
      const response = await fetch(`${base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await response.text();
      exchanges.push({
        method,
        path: path.split("?")[0] ?? path,
        status: response.status,
        contentType: response.headers.get("content-type") ?? "",
        body: text,
      });
      return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
    },
  };
}
