/**
 * Webhooks (README.md beside this file): accounts register URLs for event
 * types; every event recorded through the Store is POSTed to them, signed,
 * retried with backoff, through the Store's outbox (at least once across restarts).
 *
 *   withEventTap(store, dispatcher.onEvent)   tap.ts: the one funnel
 *   WebhookDispatcher                         dispatcher.ts: outbox, claims, retries, metrics
 *   signatureHeader / verifySignature         signature.ts: the header receivers check
 */
export {
  DEFAULT_WEBHOOK_SETTINGS,
  type DeliveryResult,
  WebhookDispatcher,
  type WebhookSettings,
} from "./dispatcher.js";
export { type WebhookPayload, webhookPayload } from "./payload.js";
export { backoffDelay, nextStep, type RetrySettings } from "./policy.js";
export {
  DEFAULT_TOLERANCE_SECONDS,
  newWebhookSecret,
  SIGNATURE_HEADER,
  signatureHeader,
  verifySignature,
} from "./signature.js";
export { type EventListener, withEventTap } from "./tap.js";
export { isPublicAddress, targetCheck } from "./targets.js";
