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
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
});

export const dkimKeySchema = z.strictObject({
  domain: z.string().min(1).max(253),
  selector: z.string().regex(/^[a-z0-9._-]{1,63}$/i, "a DNS label such as s1"),
  privateKey: z.string().includes("PRIVATE KEY", { message: "a PEM private key" }),
  algorithm: z.enum(["rsa-sha256", "ed25519-sha256"]).optional(),
});

const accountSettingsShape = {
  name: accountNameSchema,
  allowedIps: z.array(ipRangeSchema).default([]),
  allowedFrom: z.array(fromPatternSchema).default([]),
  tracking: z
    .strictObject({
      opens: z.boolean().default(true),
      clicks: z.boolean().default(true),
      /** Also rewrite links found in text/plain parts. */
      textClicks: z.boolean().default(false),
    })
    .default({ opens: true, clicks: true, textClicks: false }),
  /** 0: never wrap. RFC 5322 caps a line at 998 octets. */
  wrapColumn: z.number().int().min(0).max(998).default(76),
  autoAlternative: z.boolean().default(true),
  suppression: z.enum(["notify", "reject"]).default("notify"),
  bypassUnsubscribes: z.boolean().default(false),
  /** Keep mailing addresses that complained (default: complaints stop future mail). */
  bypassComplaints: z.boolean().default(false),
  limits: z
    .strictObject({
      perHour: z.number().int().min(0).default(0),
      perDay: z.number().int().min(0).default(0),
      perMonth: z.number().int().min(0).default(0),
      overageAllowed: z.boolean().default(false),
    })
    .default({ perHour: 0, perDay: 0, perMonth: 0, overageAllowed: false }),
  notify: z
    .strictObject({
      accountManager: z.email().optional(),
      toAccountManager: z.boolean().default(true),
      toFrom: z.boolean().default(true),
    })
    .default({ toAccountManager: true, toFrom: true }),
  /** Route table name (in a fleet: SenderRoute namespace/name). */
  route: z.string().min(1).max(253).default("default"),
  lane: z.enum(["shared", "dedicated"]).default("shared"),
  /** Share of delivery capacity relative to other accounts (fair scheduling). */
  weight: z.number().int().min(1).max(1000).default(1),
  dkim: z.array(dkimKeySchema).default([]),
};

export const accountInputSchema = z.strictObject({
  ...accountSettingsShape,
  credentials: z.array(credentialInputSchema).default([]),
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
