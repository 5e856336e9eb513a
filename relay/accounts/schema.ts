/**
 * Accounts: who may relay, and how their mail is treated (fields: docs/reference/config.md, accounts[]).
 *
 * `accountInputSchema` validates what users write (config `accounts:` entries and
 * API bodies); it carries plain passwords. `Account` is what the Store keeps: the
 * same settings with every password replaced by its scrypt hash.
 */
import { isIP } from "node:net";
import { z } from "zod";

export const accountNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,62}$/i,
    "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/** An IPv4/IPv6 address or CIDR range, e.g. "203.0.113.0/24", "2001:db8::/32", "10.0.0.7". */
export const ipRangeSchema = z
  .string()
  .refine(isIpRange, "an IP address or CIDR range such as 203.0.113.0/24");

/** "*@acme.com", "alerts@acme.com", "*@*.acme.com" or "*" (any sender). */
export const fromPatternSchema = z
  .string()
  .regex(/^(\*|[^\s@]+@[^\s@]+)$/, "an address pattern such as *@acme.com or alerts@acme.com");

export const credentialInputSchema = z.strictObject({
  username: z.string().min(1).max(256).describe("SMTP AUTH username."),
  password: z.string().min(1).max(1024).describe("SMTP AUTH password; stored as its scrypt hash only."),
});

export const dkimKeySchema = z.strictObject({
  domain: z
    .string()
    .min(1)
    .max(253)
    .describe("d=: signs mail whose From is this domain or one under it (DMARC relaxed alignment)."),
  selector: z
    .string()
    .regex(/^[a-z0-9._-]{1,63}$/i, "a DNS label such as s1")
    .describe("s=: the key is published at SELECTOR._domainkey.DOMAIN."),
  privateKey: z
    .string()
    .includes("PRIVATE KEY", { message: "a PEM private key" })
    .describe("PEM private key (RSA or Ed25519)."),
  algorithm: z
    .enum(["rsa-sha256", "ed25519-sha256"])
    .optional()
    .describe("Checked against the key's type when given; absent: taken from the key."),
});

const accountSettingsShape = {
  name: accountNameSchema.describe("The account's name."),
  allowedIps: z
    .array(ipRangeSchema)
    .default([])
    .describe("Clients (IPs or CIDR ranges) that relay as this account without AUTH."),
  allowedFrom: z
    .array(fromPatternSchema)
    .default([])
    .describe('Envelope and header From addresses the account may send as ("*@acme.com", "*" for any).'),
  tracking: z
    .strictObject({
      opens: z.boolean().default(true).describe("Add the open pixel to HTML parts."),
      clicks: z.boolean().default(true).describe("Rewrite links in HTML parts to tracked redirects."),
      textClicks: z.boolean().default(false).describe("Also rewrite links found in text/plain parts."),
    })
    .default({ opens: true, clicks: true, textClicks: false })
    .describe("What the transform tracks in this account's mail."),
  wrapColumn: z
    .number()
    .int()
    .min(0)
    .max(998)
    .default(76)
    .describe("Column text parts are wrapped at; 0: never wrap. RFC 5322 caps a line at 998 octets."),
  autoAlternative: z
    .boolean()
    .default(true)
    .describe("Generate the missing half of a multipart/alternative from the half the sender wrote."),
  suppression: z
    .enum(["notify", "reject"])
    .default("notify")
    .describe(
      "A suppressed recipient or one past the limits: reject at RCPT, or accept the message, leave that recipient out and notify.",
    ),
  bypassUnsubscribes: z.boolean().default(false).describe("Keep mailing addresses that unsubscribed."),
  bypassComplaints: z
    .boolean()
    .default(false)
    .describe("Keep mailing addresses that complained (default: complaints stop future mail)."),
  limits: z
    .strictObject({
      perHour: z.number().int().min(0).default(0).describe("Recipients per hour; 0: no limit."),
      perDay: z.number().int().min(0).default(0).describe("Recipients per day; 0: no limit."),
      perMonth: z.number().int().min(0).default(0).describe("Recipients per month; 0: no limit."),
      overageAllowed: z
        .boolean()
        .default(false)
        .describe("Past a limit mail still goes, counted as overage, instead of being refused."),
    })
    .default({ perHour: 0, perDay: 0, perMonth: 0, overageAllowed: false })
    .describe("Sending limits."),
  notify: z
    .strictObject({
      accountManager: z.email().optional().describe("Address of the account's manager."),
      toAccountManager: z
        .boolean()
        .default(true)
        .describe("Tell the account manager about errors found after acceptance."),
      toFrom: z
        .boolean()
        .default(true)
        .describe("Tell the envelope sender about errors found after acceptance."),
    })
    .default({ toAccountManager: true, toFrom: true })
    .describe("Who hears about errors found after acceptance."),
  route: z
    .string()
    .min(1)
    .max(253)
    .default("default")
    .describe("Route table name (in a fleet: SenderRoute namespace/name)."),
  lane: z
    .enum(["shared", "dedicated"])
    .default("shared")
    .describe("dedicated: delivery slots reserved for this account that no other account may use."),
  weight: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(1)
    .describe("Share of delivery capacity relative to other accounts (fair scheduling)."),
  dkim: z
    .array(dkimKeySchema)
    .default([])
    .describe("DKIM keys; mail is signed with each that matches its From."),
};

export const accountInputSchema = z.strictObject({
  ...accountSettingsShape,
  credentials: z.array(credentialInputSchema).default([]).describe("SMTP AUTH usernames and passwords."),
});

export const storedCredentialSchema = z.strictObject({
  username: z.string().min(1).max(256),
  /** "scrypt$N$r$p$saltB64$hashB64" (see credentials.ts). */
  passwordHash: z.string().startsWith("scrypt$"),
});

/** What the Store keeps and returns; validated again when read back from Redis or disk. */
export const accountSchema = z.strictObject({
  ...accountSettingsShape,
  credentials: z.array(storedCredentialSchema).default([]),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

export type AccountInput = z.input<typeof accountInputSchema>;
export type ParsedAccountInput = z.output<typeof accountInputSchema>;
export type Account = z.output<typeof accountSchema>;
export type StoredCredential = z.output<typeof storedCredentialSchema>;
export type DkimKey = z.output<typeof dkimKeySchema>;

export function isIpRange(value: string): boolean {
  const slash = value.indexOf("/");
  const address = slash === -1 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash === -1) return true;
  const bitsText = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return false;
  return Number(bitsText) <= (family === 4 ? 32 : 128);
}
