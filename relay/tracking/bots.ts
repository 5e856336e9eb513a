/**
 * Which tracking hits come from machines rather than people. They are still
 * recorded, flagged `bot`, and the stats keep them apart:
 * counting Apple's prefetches as opens, or a link scanner's GET as a click,
 * would make every message look read.
 *
 * Rules are data, first match wins. They look at the user agent, the client
 * address and the HTTP method only; nothing here does I/O.
 */
import { isIPv4 } from "node:net";

export type BotReason =
  /** Apple Mail Privacy Protection fetches every image on delivery, from Apple's network. */
  | "apple-mpp"
  /** Gmail fetches images through its proxy: the open may be real, but who and where are Google's. */
  | "gmail-image-proxy"
  | "yahoo-image-proxy"
  /** Mail security gateways and link scanners (Safe Links, Proofpoint, Mimecast...) GET every URL. */
  | "link-scanner"
  /** Crawlers, link previews, HTTP libraries, headless browsers. */
  | "automated-client"
  | "no-user-agent"
  /** A HEAD request never comes from someone reading mail. */
  | "head-request";

export interface ClientHit {
  method: string;
  userAgent: string | undefined;
  ip: string | undefined;
}

export interface BotVerdict {
  bot: boolean;
  reason?: BotReason;
}

interface UserAgentRule {
  pattern: RegExp;
  reason: BotReason;
}

/** Apple MPP's proxies send exactly this user agent; Apple Mail itself sends a full one. */
const APPLE_MPP_USER_AGENT = "Mozilla/5.0";

// Not `isbot`: not a dependency, and it knows crawlers, not mail's image proxies and link scanners.
const USER_AGENT_RULES: readonly UserAgentRule[] = [
  { pattern: /GoogleImageProxy|ggpht\.com/i, reason: "gmail-image-proxy" },
  { pattern: /YahooMailProxy/i, reason: "yahoo-image-proxy" },
  {
    pattern:
      /Barracuda|Mimecast|Proofpoint|urldefense|IronPort|Cisco.?Secure|Symantec|Trend.?Micro|Forcepoint|Sophos|FireEye|Zscaler|SafeLinks|Microsoft.?Defender|MSOffice.?ATP|Bitdefender/i,
    reason: "link-scanner",
  },
  {
    pattern:
      /bot\b|bot\/|crawler|spider|preview|HeadlessChrome|PhantomJS|python-requests|python-urllib|aiohttp|curl\/|Wget|Go-http-client|okhttp|Java\/|libwww|axios|node-fetch|undici|facebookexternalhit|Slackbot|Discordbot|WhatsApp|TelegramBot|LinkedInBot|SkypeUriPreview/i,
    reason: "automated-client",
  },
];

/** Apple's own network (17.0.0.0/8): MPP fetches come from it or from relays that say "Mozilla/5.0". */
function inAppleNetwork(ip: string | undefined): boolean {
  if (!ip) return false;
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return isIPv4(v4) && v4.startsWith("17.");
}

export function classifyClient(hit: ClientHit): BotVerdict {
  if (hit.method === "HEAD") return { bot: true, reason: "head-request" };
  const userAgent = hit.userAgent?.trim() ?? "";
  if (userAgent === "") return { bot: true, reason: "no-user-agent" };
  if (userAgent === APPLE_MPP_USER_AGENT || inAppleNetwork(hit.ip)) return { bot: true, reason: "apple-mpp" };
  for (const rule of USER_AGENT_RULES) {
    if (rule.pattern.test(userAgent)) return { bot: true, reason: rule.reason };
  }
  return { bot: false };
}
