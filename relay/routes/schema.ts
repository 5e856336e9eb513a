/**
 * Route tables: which outbound senders carry an account's mail, by policy,
 * per recipient domain, and around blocked (sender, domain) pairs.
 * One schema for config `routes:`, the Store's payloads and the operator's
 * SenderRoute → Redis publication.
 */
import { isIP } from "node:net";
import { z } from "zod";

export const senderSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, "1-63 letters, digits, '.', '_' or '-'")
      .describe("The sender's name, unique in its table."),
    host: z.string().min(1).max(253).optional().describe("Smart host; absent when `mx` is true."),
    port: z.number().int().min(1).max(65535).default(25).describe("Port of the smart host or the MX hosts."),
    mx: z.boolean().default(false).describe("Deliver straight to the recipient domain's MX hosts."),
    localAddress: z
      .string()
      .refine((v) => isIP(v) !== 0, "an IP address")
      .optional()
      .describe('Source address to bind outgoing connections to (the "outbound IP").'),
    tls: z
      .enum(["none", "starttls", "tls"])
      .default("starttls")
      .describe(
        "none: plain; starttls: upgrade when offered (required when `requireTls`); tls: implicit TLS (port 465).",
      ),
    requireTls: z.boolean().default(false).describe("Refuse to deliver without TLS."),
    verifyCertificates: z
      .boolean()
      .default(true)
      .describe("Verify the remote certificate. Off for loopback test peers only."),
    auth: z
      .strictObject({
        user: z.string().min(1).describe("SMTP AUTH username."),
        pass: z.string().min(1).describe("SMTP AUTH password."),
      })
      .optional()
      .describe("SMTP AUTH at a smart host that asks for it."),
    weight: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(1)
      .describe("Share of mail under the weighted policy."),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(20)
      .describe("Concurrent connections through this sender."),
  })
  .refine((s) => (s.mx ? s.host === undefined : s.host !== undefined), {
    message: "a sender has either host (a smart host) or mx: true, not both",
  });

export const domainRouteSchema = z.strictObject({
  match: z
    .array(z.string().min(1).max(253))
    .min(1)
    .describe('Recipient domains: exact names; ".example.com" or "*.example.com" also match subdomains.'),
  senders: z
    .array(z.string().min(1))
    .min(1)
    .describe("Names of the table's senders their mail goes through."),
});

export const blockingSchema = z.strictObject({
  holdSeconds: z
    .number()
    .int()
    .min(1)
    .default(14_400)
    .describe("How long a reported block holds before the pair is tried again."),
  patterns: z
    .array(z.string().min(1))
    .default([])
    .describe('Text in a remote answer that means "this IP is blocked here" (case-insensitive).'),
});

export const routeTableSchema = z
  .strictObject({
    policy: z
      .enum(["failover", "random", "weighted"])
      .default("failover")
      .describe("How a copy picks among the senders: in order, at random, or by weight."),
    senders: z.array(senderSchema).min(1).describe("Outbound senders."),
    domains: z
      .array(domainRouteSchema)
      .default([])
      .describe("Per recipient domain, the only senders its mail may use (never the rest of the pool)."),
    blocking: blockingSchema
      .default({ holdSeconds: 14_400, patterns: [] })
      .describe("Routing around (sender, domain) pairs a remote reports blocked."),
  })
  .superRefine((table, ctx) => {
    const names = new Set<string>();
    table.senders.forEach((s, i) => {
      if (names.has(s.name))
        ctx.addIssue({
          code: "custom",
          path: ["senders", i, "name"],
          message: `duplicate sender "${s.name}"`,
        });
      names.add(s.name);
    });
    table.domains.forEach((d, i) => {
      d.senders.forEach((name, j) => {
        if (!names.has(name))
          ctx.addIssue({
            code: "custom",
            path: ["domains", i, "senders", j],
            message: `unknown sender "${name}"`,
          });
      });
    });
  });

export type RouteTableInput = z.input<typeof routeTableSchema>;
export type RouteTable = z.output<typeof routeTableSchema>;
export type Sender = z.output<typeof senderSchema>;
