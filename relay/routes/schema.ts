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
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, "1-63 letters, digits, '.', '_' or '-'"),
    /** Smart host; absent when `mx` is true. */
    host: z.string().min(1).max(253).optional(),
    port: z.number().int().min(1).max(65535).default(25),
    /** Deliver straight to the recipient domain's MX hosts. */
    mx: z.boolean().default(false),
    /** Source address to bind outgoing connections to (the "outbound IP"). */
    localAddress: z
      .string()
      .refine((v) => isIP(v) !== 0, "an IP address")
      .optional(),
    /** none: plain; starttls: upgrade when offered (required when `requireTls`); tls: implicit TLS (port 465). */
    tls: z.enum(["none", "starttls", "tls"]).default("starttls"),
    requireTls: z.boolean().default(false),
    /** Verify the remote certificate. Off for loopback test peers only. */
    verifyCertificates: z.boolean().default(true),
    auth: z.strictObject({ user: z.string().min(1), pass: z.string().min(1) }).optional(),
    weight: z.number().int().min(0).max(10_000).default(1),
    /** Concurrent connections through this sender. */
    maxConnections: z.number().int().min(1).max(10_000).default(20),
  })
  .refine((s) => (s.mx ? s.host === undefined : s.host !== undefined), {
    message: "a sender has either host (a smart host) or mx: true, not both",
  });

export const domainRouteSchema = z.strictObject({
  match: z.array(z.string().min(1).max(253)).min(1),
  senders: z.array(z.string().min(1)).min(1),
});

export const blockingSchema = z.strictObject({
  holdSeconds: z.number().int().min(1).default(14_400),
  /** Text in a remote answer that means "this IP is blocked here" (case-insensitive). */
  patterns: z.array(z.string().min(1)).default([]),
});

export const routeTableSchema = z
  .strictObject({
    policy: z.enum(["failover", "random", "weighted"]).default("failover"),
    senders: z.array(senderSchema).min(1),
    domains: z.array(domainRouteSchema).default([]),
    blocking: blockingSchema.default({ holdSeconds: 14_400, patterns: [] }),
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
