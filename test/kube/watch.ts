/**
 * Watch streams: replay from a resourceVersion (or the current state as ADDED
 * events), then live changes, with bookmarks, timeoutSeconds, and an ERROR
 * event carrying 410 Expired when the requested resourceVersion has been
 * compacted away (the client must relist, as against etcd).
 */
import type { ServerResponse } from "node:http";
import { gone } from "./errors.js";
import type { JsonObject } from "./json.js";
import type { Storage, StoredEvent, WatchEventType } from "./storage.js";

export interface WatchRequest {
  resource: string;
  /** null: no resourceVersion given (start with the current state). */
  resourceVersion: string | null;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds?: number;
  /** The current objects, for watches that start with the current state. */
  initialObjects: () => JsonObject[];
  /** Namespace and selectors. */
  matches: (object: JsonObject) => boolean;
  /** Converts a stored object to what this client sees (version, or a Table row). */
  present: (object: JsonObject) => JsonObject;
  /** The bookmark's object shell: the kind of this resource with only a resourceVersion. */
  bookmark: (resourceVersion: string, initialEventsEnd: boolean) => JsonObject;
  bookmarkIntervalMs: number;
}

export interface WatchRegistry {
  /** Ends every open watch, as an API server restart would. */
  closeAll(): void;
  add(close: () => void): () => void;
}

export function watchRegistry(): WatchRegistry {
  const open = new Set<() => void>();
  return {
    closeAll() {
      for (const close of [...open]) close();
    },
    add(close) {
      open.add(close);
      return () => open.delete(close);
    },
  };
}

export function serveWatch(
  storage: Storage,
  request: WatchRequest,
  response: ServerResponse,
  registry: WatchRegistry,
): void {
  response.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "no-cache, private",
    "Transfer-Encoding": "chunked",
  });
  response.flushHeaders();
  const send = (type: WatchEventType | "BOOKMARK" | "ERROR", object: JsonObject) => {
    if (!response.writableEnded) response.write(`${JSON.stringify({ type, object })}\n`);
  };
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let unsubscribe: () => void = () => {};
  let unregister: () => void = () => {};
  const finish = () => {
    clearTimeout(bookmarkTimer);
    clearTimeout(timeoutTimer);
    unsubscribe();
    unregister();
    if (!response.writableEnded) response.end();
  };
  response.on("close", finish);
  unregister = registry.add(finish);

  const forward = (event: StoredEvent) => {
    if (event.resource !== request.resource || !request.matches(event.object)) return;
    send(event.type, request.present(event.object));
  };

  const startsFromState =
    request.resourceVersion === null ||
    request.resourceVersion === "" ||
    request.resourceVersion === "0" ||
    request.sendInitialEvents;
  if (startsFromState) {
    for (const object of request.initialObjects())
      if (request.matches(object)) send("ADDED", request.present(object));
    if (request.sendInitialEvents && request.allowBookmarks)
      send("BOOKMARK", request.bookmark(String(storage.currentRevision()), true));
  } else {
    const from = Number(request.resourceVersion);
    const replay = Number.isInteger(from) ? storage.eventsSince(request.resource, from) : "expired";
    if (replay === "expired") {
      const status = gone(
        `too old resource version: ${request.resourceVersion} (${storage.currentRevision()})`,
      ).toStatus();
      send("ERROR", status);
      finish();
      return;
    }
    for (const event of replay) forward(event);
  }
  unsubscribe = storage.subscribe(forward);
  if (request.allowBookmarks) {
    const tick = () => {
      send("BOOKMARK", request.bookmark(String(storage.currentRevision()), false));
      bookmarkTimer = setTimeout(tick, request.bookmarkIntervalMs);
    };
    bookmarkTimer = setTimeout(tick, request.bookmarkIntervalMs);
  }
  if (request.timeoutSeconds !== undefined && request.timeoutSeconds > 0)
    timeoutTimer = setTimeout(finish, request.timeoutSeconds * 1000);
}
