/**
 * The one funnel from the Store to webhooks: a Store that tells a listener of
 * every event recorded through it. Applied once, in relay/main.ts, to the
 * store every part of the relay is handed, it sees the tracking server's
 * opens, clicks and unsubscribes and the scheduler's delivered, deferred and
 * bounced attempts (and any later writer of events) without any of them
 * knowing webhooks exist.
 *
 * Why a decorator rather than an event bus each caller publishes to: the
 * Store is already the one place every event passes, with its outcome
 * (unknown message, account, normalised fields) decided; a bus would need
 * every present and future caller to remember to publish, and would see
 * events the store refused.
 *
 * The listener runs after the write has committed, and the writer's call
 * resolves only once the listener's promise has: the dispatcher's outbox
 * write (dispatcher.ts), so no writer moves on (a scheduler marking a copy
 * done, say) before its event is safe for webhooks. The listener must not
 * wait on anything slower than a store write; its errors are logged and
 * never reach the writer.
 */
import { type Logger, silentLogger } from "../log/logger.js";
import type { EventResult, Store } from "../store/types.js";
import type { StoredEvent } from "../vocabulary.js";

export type EventListener = (event: StoredEvent, unique: boolean) => void | Promise<void>;

export function withEventTap(store: Store, listener: EventListener, logger: Logger = silentLogger()): Store {
  const tell = async (result: EventResult): Promise<EventResult> => {
    if (result.recorded && result.event) {
      try {
        await listener(result.event, result.unique);
      } catch (error) {
        logger.error({ err: error, type: result.event.type }, "event listener failed");
      }
    }
    return result;
  };
  const tapped: Pick<Store, "recordEvent" | "recordAttempt"> = {
    recordEvent: async (event) => tell(await store.recordEvent(event)),
    recordAttempt: async (messageId, recipient, attempt) =>
      tell(await store.recordAttempt(messageId, recipient, attempt)),
  };
  // A Proxy rather than a copy of the methods, so an adapter's new methods pass through untouched.
  return new Proxy(store, {
    get(target, property) {
      if (property === "recordEvent" || property === "recordAttempt") return tapped[property];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
