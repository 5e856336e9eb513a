/**
 * Which links get click tracking, and their tracking URLs. Decisions are pure; the only state is
 * the running link index, shared by all parts of one recipient's copy.
 */
import { MAX_TOKEN_URL_BYTES } from "../tracking/token.js";

export const UNIQUE_ID_MARKER = "***uniqueid***";

/**
 * The do-not-track marker: a link whose tag carries this attribute (any value, or none) is never
 * rewritten, e.g. `<a href="https://bank.example/reset" data-relay-notrack>`.
 */
export const DO_NOT_TRACK_ATTRIBUTE = "data-relay-notrack";

export type KeptLinkReason =
  /** mailto:, tel:, relative or any other non-http(s) link. */
  | "not-http"
  /** "#section": a link inside the message. */
  | "anchor"
  /** The link holds ***uniqueid*** or points at the tracking server's /u/ path. */
  | "unsubscribe"
  /** Already a link to the tracking server. */
  | "tracking-domain"
  /** The tag carries the do-not-track marker. */
  | "do-not-track"
  /** Not a URL that the WHATWG parser accepts. */
  | "invalid-url"
  /** Longer than a click token may carry. */
  | "too-long"
  /** Click tracking is off for this account or message. */
  | "clicks-off";

export type LinkDecision = { track: true; trackingUrl: string } | { track: false; reason: KeptLinkReason };

export interface LinkTrackerOptions {
  enabled: boolean;
  /** e.g. "https://t.example.com" (no trailing slash). */
  trackingBaseUrl: string;
  /** Signs a click token for (link index, url). */
  signClick: (linkIndex: number, url: string) => string;
}

export class LinkTracker {
  private nextIndex = 0;
  private readonly trackingHost: string;

  constructor(private readonly options: LinkTrackerOptions) {
    this.trackingHost = new URL(options.trackingBaseUrl).host.toLowerCase();
  }

  /** `url` is the link as the browser would see it: entities decoded, surrounding spaces trimmed. */
  decide(url: string, doNotTrack = false): LinkDecision {
    const reason = this.keepReason(url, doNotTrack);
    if (reason) return { track: false, reason };
    const index = this.nextIndex++;
    return {
      track: true,
      trackingUrl: `${this.options.trackingBaseUrl}/c/${this.options.signClick(index, url)}`,
    };
  }

  private keepReason(url: string, doNotTrack: boolean): KeptLinkReason | undefined {
    if (url.startsWith("#")) return "anchor";
    if (!/^https?:\/\//i.test(url)) return "not-http";
    if (url.includes(UNIQUE_ID_MARKER)) return "unsubscribe";
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "invalid-url";
    }
    if (parsed.host.toLowerCase() === this.trackingHost) {
      return parsed.pathname.startsWith("/u/") ? "unsubscribe" : "tracking-domain";
    }
    if (doNotTrack) return "do-not-track";
    if (!this.options.enabled) return "clicks-off";
    if (Buffer.byteLength(url) > MAX_TOKEN_URL_BYTES || this.nextIndex > 0xffff) return "too-long";
    return undefined;
  }
}
