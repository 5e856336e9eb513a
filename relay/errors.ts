/**
 * The one error vocabulary of the relay. Every refusal the relay makes has a
 * code here with its SMTP reply, so tests, metrics and logs match on codes,
 * never on message text.
 */

export interface RelayErrorSpec {
  responseCode: number;
  enhancedCode: string;
  temporary: boolean;
  category: "policy" | "auth" | "limits" | "protocol" | "content" | "resources" | "lifecycle";
}

export const RELAY_ERRORS = {
  /** No AUTH, allowed IP or allowed From applies. */
  relay_denied: { responseCode: 550, enhancedCode: "5.7.1", temporary: false, category: "policy" },
  /** The header From is missing or not allowed for the account. */
  from_not_allowed: { responseCode: 550, enhancedCode: "5.7.1", temporary: false, category: "policy" },
  auth_failed: { responseCode: 535, enhancedCode: "5.7.8", temporary: false, category: "auth" },
  /** Too many AUTH failures from one IP or on one connection. */
  auth_rate_limited: { responseCode: 421, enhancedCode: "4.7.0", temporary: true, category: "auth" },
  /** Too many AUTH failures for one username, from anywhere (the connection stays open). */
  auth_user_rate_limited: { responseCode: 454, enhancedCode: "4.7.0", temporary: true, category: "auth" },
  /** Too many reports to the bounce domain from one client in a minute (relay/feedback). */
  report_rate_limited: { responseCode: 450, enhancedCode: "4.7.0", temporary: true, category: "limits" },
  /** More reports arriving at once than feedback.maxConcurrentReports (relay/feedback/incoming.ts). */
  feedback_busy: { responseCode: 451, enhancedCode: "4.3.2", temporary: true, category: "resources" },
  /** AUTH offered only over TLS. */
  encryption_required: { responseCode: 538, enhancedCode: "5.7.11", temporary: false, category: "auth" },
  /** Recipient on one of the account's suppression lists (suppression: reject). */
  suppressed: { responseCode: 550, enhancedCode: "5.1.1", temporary: false, category: "policy" },
  /** Account over its hourly, daily or monthly limit (suppression: reject). */
  over_limit: { responseCode: 452, enhancedCode: "4.5.3", temporary: true, category: "limits" },
  too_many_recipients: { responseCode: 452, enhancedCode: "4.5.3", temporary: true, category: "limits" },
  too_many_connections: { responseCode: 421, enhancedCode: "4.7.0", temporary: true, category: "limits" },
  too_large: { responseCode: 552, enhancedCode: "5.3.4", temporary: false, category: "limits" },
  header_too_large: { responseCode: 552, enhancedCode: "5.3.4", temporary: false, category: "content" },
  too_many_hops: { responseCode: 554, enhancedCode: "5.4.6", temporary: false, category: "content" },
  smuggling: { responseCode: 550, enhancedCode: "5.5.2", temporary: false, category: "protocol" },
  nul: { responseCode: 554, enhancedCode: "5.6.0", temporary: false, category: "content" },
  bad_header: { responseCode: 554, enhancedCode: "5.6.0", temporary: false, category: "content" },
  bad_address: { responseCode: 553, enhancedCode: "5.1.3", temporary: false, category: "protocol" },
  slow_client: { responseCode: 421, enhancedCode: "4.4.2", temporary: true, category: "protocol" },
  session_too_long: { responseCode: 421, enhancedCode: "4.4.2", temporary: true, category: "protocol" },
  /** Spool disk full or a write/fsync failed. */
  disk_full: { responseCode: 452, enhancedCode: "4.3.1", temporary: true, category: "resources" },
  spool_error: { responseCode: 451, enhancedCode: "4.3.0", temporary: true, category: "resources" },
  /** The Store (Redis) is unreachable. */
  store_unavailable: { responseCode: 451, enhancedCode: "4.3.0", temporary: true, category: "resources" },
  /** RCPT at the bounce domain without a valid return-path token (relay/feedback). */
  bad_bounce_address: { responseCode: 550, enhancedCode: "5.1.1", temporary: false, category: "policy" },
  draining: { responseCode: 421, enhancedCode: "4.3.2", temporary: true, category: "lifecycle" },
} as const satisfies Record<string, RelayErrorSpec>;

export type RelayErrorCode = keyof typeof RELAY_ERRORS;

export class RelayError extends Error {
  override readonly name = "RelayError";
  readonly responseCode: number;
  readonly enhancedCode: string;
  readonly temporary: boolean;
  readonly category: RelayErrorSpec["category"];

  constructor(
    readonly code: RelayErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    const spec: RelayErrorSpec = RELAY_ERRORS[code];
    // smtp-server sends `${responseCode} ${message}`; the enhanced code leads the text.
    super(`${spec.enhancedCode} ${message}`, options);
    this.responseCode = spec.responseCode;
    this.enhancedCode = spec.enhancedCode;
    this.temporary = spec.temporary;
    this.category = spec.category;
  }
}
