/** Suppression lists: bounces, unsubscribes, complaints (docs/reference/api.md). */
import { z } from "zod";
import type { SuppressionList } from "../vocabulary.js";
import { defineEndpoint, type Endpoint } from "./endpoint.js";
import { accountNameParam } from "./endpoints-accounts.js";
import { ApiError, limitParam, parseWith, type Reply } from "./http.js";
import {
  addressSchema,
  bulkSuppressionBodySchema,
  pageSchema,
  suppressionBodySchema,
  suppressionListSchema,
  suppressionSchema,
} from "./schemas.js";

const SUPPRESSION_COLUMNS = ["address", "list", "reason", "at", "messageId"];
const BASE = "/v1/accounts/:name/suppressions/:list";

function listParam(value: string | undefined): SuppressionList {
  return parseWith(suppressionListSchema, value, "list");
}

function addressParam(value: string | undefined): string {
  return parseWith(addressSchema, value, "address").toLowerCase();
}

const entryReply = (entry: z.output<typeof suppressionSchema>, status = 200): Reply => ({
  kind: "table",
  status,
  json: entry,
  rows: [entry],
  root: "suppressions",
  row: "suppression",
  columns: SUPPRESSION_COLUMNS,
});

export const suppressionEndpoints: Endpoint[] = [
  defineEndpoint({
    method: "GET",
    pattern: BASE,
    access: "account",
    tag: "suppressions",
    summary: "List a suppression list, sorted by address, paged",
    query: z.object({
      search: z.string().max(320).optional(),
      limit: limitParam,
      cursor: z.string().optional(),
    }),
    response: {
      status: 200,
      description: "entries",
      schema: pageSchema(suppressionSchema),
      table: { root: "suppressions", row: "suppression" },
    },
    async handle({ api, params, query }) {
      const page = await api.store.listSuppressions(
        accountNameParam(params.name),
        listParam(params.list),
        query,
      );
      return {
        kind: "table",
        json: page,
        rows: page.items,
        root: "suppressions",
        row: "suppression",
        columns: SUPPRESSION_COLUMNS,
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
    },
  }),
  defineEndpoint({
    method: "PUT",
    pattern: BASE,
    access: "account",
    tag: "suppressions",
    summary: "Add many addresses to a suppression list (idempotent)",
    body: bulkSuppressionBodySchema,
    response: {
      status: 200,
      description: "how many were added or refreshed",
      schema: z.object({ added: z.number() }),
    },
    async handle({ api, params, body }) {
      const account = accountNameParam(params.name);
      const list = listParam(params.list);
      const at = api.now();
      for (const address of body.addresses) {
        await api.store.addSuppression(account, {
          address,
          list,
          reason: body.reason ?? "added through the API",
          at,
        });
      }
      return { kind: "json", body: { added: body.addresses.length } };
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: `${BASE}/:address`,
    access: "account",
    tag: "suppressions",
    summary: "Is this address on the list?",
    response: {
      status: 200,
      description: "the entry (404 when absent)",
      schema: suppressionSchema,
      table: { root: "suppressions", row: "suppression" },
    },
    async handle({ api, params }) {
      const entry = await api.store.getSuppression(
        accountNameParam(params.name),
        listParam(params.list),
        addressParam(params.address),
      );
      if (!entry) throw new ApiError("not_found", "not on this list");
      return entryReply(entry);
    },
  }),
  defineEndpoint({
    method: "PUT",
    pattern: `${BASE}/:address`,
    access: "account",
    tag: "suppressions",
    summary: "Add an address to the list (idempotent: the latest reason wins)",
    body: suppressionBodySchema,
    response: {
      status: 200,
      description: "the entry",
      schema: suppressionSchema,
      table: { root: "suppressions", row: "suppression" },
    },
    async handle({ api, params, body }) {
      const account = accountNameParam(params.name);
      const list = listParam(params.list);
      const address = addressParam(params.address);
      const entry = { address, list, reason: body?.reason ?? "added through the API", at: api.now() };
      await api.store.addSuppression(account, entry);
      return entryReply((await api.store.getSuppression(account, list, address)) ?? entry);
    },
  }),
  defineEndpoint({
    method: "DELETE",
    pattern: `${BASE}/:address`,
    access: "account",
    tag: "suppressions",
    summary: "Take an address off the list",
    response: { status: 204, description: "removed (404 when it was not there)" },
    async handle({ api, params }) {
      const removed = await api.store.removeSuppression(
        accountNameParam(params.name),
        listParam(params.list),
        addressParam(params.address),
      );
      if (!removed) throw new ApiError("not_found", "not on this list");
      return { kind: "empty", status: 204 };
    },
  }),
];
