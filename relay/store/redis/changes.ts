/**
 * Change notification over pub/sub on `${prefix}changes`. A dedicated
 * subscriber connection (a subscribed connection can run no other command);
 * ioredis resubscribes by itself after a reconnect. Changes published while
 * a relay is disconnected are lost, as pub/sub is fire-and-forget: callers
 * that cache must also reload on reconnect or on a timer.
 */

import type { Logger } from "../../log/logger.js";
import type { StoreChange, Unsubscribe } from "../types.js";
import { storeChangeSchema } from "./codecs.js";
import type { RedisClient } from "./connection.js";

export interface ChangeFeed {
  onChange(listener: (change: StoreChange) => void): Unsubscribe;
  close(): void;
}

/** Subscribes `subscriber` to `channel`; resolves once the subscription is active, so no own change is missed. */
export async function openChangeFeed(
  subscriber: RedisClient,
  channel: string,
  logger: Logger,
): Promise<ChangeFeed> {
  const listeners = new Set<(change: StoreChange) => void>();
  const onMessage = (from: string, payload: string) => {
    if (from !== channel) return;
    let change: StoreChange;
    try {
      change = storeChangeSchema.parse(JSON.parse(payload));
    } catch (error) {
      logger.warn(
        { err: error, payload: payload.slice(0, 200) },
        "dropping a malformed store change notification",
      );
      return;
    }
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch (error) {
        logger.error({ err: error, change }, "store change listener failed");
      }
    }
  };
  subscriber.on("message", onMessage);
  await subscriber.subscribe(channel);
  return {
    onChange(listener) {
      // Wrapped so the same function can subscribe twice and unsubscribe each independently.
      const entry = (change: StoreChange) => listener(change);
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    close() {
      listeners.clear();
      subscriber.off("message", onMessage);
    },
  };
}
