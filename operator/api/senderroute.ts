/**
 * SenderRoute (relayfleet.io/v1alpha1): a route table for the fleet. The
 * operator publishes it to the Store as route table "namespace/name"
 * (relay/routes/schema.ts is the relay's reading of the same fields) and
 * reports the (sender, domain) pairs it is routing around in status.blocked.
 */
import type { ObjectMeta } from "./relaypool.js";
import { array, boolean, conditionsSchema, type Infer, integer, object, oneOf, string } from "./schema.js";

const NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
const IP = "^[0-9a-fA-F.:]+$";

export const senderSchema = object({
  name: string({ pattern: NAME, maxLength: 63 }).required(),
  host: string({ minLength: 1, maxLength: 253 }).describe("Smart host; absent when mx is true."),
  port: integer({ minimum: 1, maximum: 65535 }).default(25),
  mx: boolean().default(false).describe("Deliver straight to the recipient domain's MX hosts."),
  localAddress: string({ pattern: IP, maxLength: 64 }).describe(
    'Source address for outgoing connections (the "outbound IP").',
  ),
  tls: oneOf(["none", "starttls", "tls"] as const).default("starttls"),
  requireTls: boolean().default(false),
  verifyCertificates: boolean().default(true),
  weight: integer({ minimum: 0, maximum: 10000 }).default(1),
  maxConnections: integer({ minimum: 1, maximum: 10000 }).default(20),
  authSecretRef: object({
    name: string({ pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", maxLength: 253 }).required(),
    userKey: string({ minLength: 1, maxLength: 253 }).default("username"),
    passwordKey: string({ minLength: 1, maxLength: 253 }).default("password"),
  }).describe(
    "SMTP AUTH for a smart host that asks for it: a Secret in the route's namespace holding the user name and password. The operator reads it and publishes the credentials with the route table (to the fleet's Redis, where the relays read them); a change to the Secret is picked up within a minute.",
  ),
}).validate({
  rule: "has(self.host) != self.mx",
  message: "a sender has either host (a smart host) or mx: true, not both",
});

export const domainRouteSchema = object({
  match: array(string({ minLength: 1, maxLength: 253 }), { minItems: 1, maxItems: 256 }).required(),
  senders: array(string({ pattern: NAME, maxLength: 63 }), { minItems: 1, maxItems: 64 }).required(),
});

export const senderRouteSpecSchema = object({
  policy: oneOf(["failover", "random", "weighted"] as const).default("failover"),
  senders: array(senderSchema, { minItems: 1, maxItems: 64, listType: "map", mapKeys: ["name"] }).required(),
  domains: array(domainRouteSchema, { maxItems: 256 }).default([]),
  blocking: object({
    holdSeconds: integer({ minimum: 1, maximum: 2592000 })
      .default(14400)
      .describe("How long a reported block holds before the pair is tried again."),
    patterns: array(string({ minLength: 1, maxLength: 256 }), { maxItems: 64 })
      .default([])
      .describe('Text in a remote answer that means "this IP is blocked here" (case-insensitive).'),
  }).default({ holdSeconds: 14400, patterns: [] }),
}).validate(
  {
    rule: "self.senders.all(s, self.senders.exists_one(t, t.name == s.name))",
    message: "sender names must be unique",
    fieldPath: ".senders",
    reason: "FieldValueDuplicate",
  },
  {
    rule: "self.domains.all(d, d.senders.all(n, self.senders.exists(s, s.name == n)))",
    message: "a domain route may only name senders listed in spec.senders",
    fieldPath: ".domains",
  },
);

export const blockedEntrySchema = object({
  sender: string().required(),
  domain: string().required(),
  since: string({ format: "date-time" }).required(),
  until: string({ format: "date-time" }).required(),
  reason: string({ maxLength: 1024 }).required().describe("The remote answer that reported the block."),
  reportedBy: string({ maxLength: 253 }),
});

export const senderRouteStatusSchema = object({
  blocked: array(blockedEntrySchema, { maxItems: 4096 }),
  blockedCount: integer({ minimum: 0 }),
  publishedGeneration: integer({ minimum: 0 }).describe(
    "The metadata.generation of the spec now published in the Store.",
  ),
  publishedAs: string().describe('Route table name in the Store ("namespace/name").'),
  conditions: conditionsSchema,
  observedGeneration: integer({ minimum: 0 }),
});

export type SenderRouteSpec = Infer<typeof senderRouteSpecSchema>;
export type SenderRouteStatus = Infer<typeof senderRouteStatusSchema>;
export type BlockedEntry = Infer<typeof blockedEntrySchema>;

export interface SenderRoute {
  apiVersion: "relayfleet.io/v1alpha1";
  kind: "SenderRoute";
  metadata: ObjectMeta;
  spec: SenderRouteSpec;
  status?: SenderRouteStatus;
}
