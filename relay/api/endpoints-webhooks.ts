/**
 * Webhooks of an account (relay/webhooks/README.md): register a URL for some
 * event types (the signing secret is answered once, then never shown), list,
 * delete. The same target rules as sending apply at registration to what can
 * be judged without DNS (scheme, user info, IP literals), so an obvious
 * mistake is a 400 now rather than a refused delivery later.
 */
import { randomBytes } from "node:crypto";
import type { WebhookRecord } from "../vocabulary.js";
import { newWebhookSecret } from "../webhooks/signature.js";
import { checkTargetUrl } from "../webhooks/targets.js";
import { defineEndpoint, type Endpoint } from "./endpoint.js";
import { accountNameParam } from "./endpoints-accounts.js";
import { ApiError, invalid, type Reply } from "./http.js";
import { pageSchema, webhookBodySchema, webhookCreatedSchema, webhookViewSchema } from "./schemas.js";

/** Each event is POSTed to every matching webhook: a small bound keeps that fan-out small. */
export const MAX_WEBHOOKS_PER_ACCOUNT = 20;
const WEBHOOK_COLUMNS = ["id", "account", "url", "events", "active", "createdAt"];

function view({ secret: _secret, ...rest }: WebhookRecord) {
  return rest;
}

export const webhookEndpoints: Endpoint[] = [
  defineEndpoint({
    method: "POST",
    pattern: "/v1/accounts/:name/webhooks",
    access: "account",
    tag: "webhooks",
    summary: "Register a URL for some event types (the signing secret is shown once)",
    body: webhookBodySchema,
    response: { status: 201, description: "the webhook, with its secret", schema: webhookCreatedSchema },
    async handle({ api, params, body }) {
      const name = accountNameParam(params.name);
      if (!(await api.store.getAccount(name))) throw new ApiError("not_found", `no account named ${name}`);
      const target = checkTargetUrl(body.url, api.webhookTargets);
      if (!target.ok) throw invalid([{ field: "url", message: `not allowed: ${target.reason}` }]);
      if ((await api.store.listWebhooks(name)).length >= MAX_WEBHOOKS_PER_ACCOUNT)
        throw new ApiError("conflict", `an account has at most ${MAX_WEBHOOKS_PER_ACCOUNT} webhooks`);
      const webhook: WebhookRecord = {
        id: `wh_${randomBytes(8).toString("hex")}`,
        account: name,
        url: target.url.href,
        events: [...new Set(body.events)],
        secret: newWebhookSecret(),
        createdAt: api.now(),
        active: body.active ?? true,
      };
      await api.store.putWebhook(webhook);
      return { kind: "json", status: 201, body: webhook };
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name/webhooks",
    access: "account",
    tag: "webhooks",
    summary: "List the account's webhooks, oldest first (no secrets)",
    response: {
      status: 200,
      description: "webhooks",
      schema: pageSchema(webhookViewSchema),
      table: { root: "webhooks", row: "webhook" },
    },
    async handle({ api, params }): Promise<Reply> {
      const items = (await api.store.listWebhooks(accountNameParam(params.name))).map(view);
      return {
        kind: "table",
        json: { items },
        rows: items,
        root: "webhooks",
        row: "webhook",
        columns: WEBHOOK_COLUMNS,
      };
    },
  }),
  defineEndpoint({
    method: "DELETE",
    pattern: "/v1/accounts/:name/webhooks/:id",
    access: "account",
    tag: "webhooks",
    summary: "Delete a webhook; events already queued for it may still be sent",
    response: { status: 204, description: "deleted" },
    async handle({ api, params }) {
      if (!(await api.store.deleteWebhook(accountNameParam(params.name), params.id ?? ""))) {
        throw new ApiError("not_found", "no such webhook for this account");
      }
      return { kind: "empty", status: 204 };
    },
  }),
];
