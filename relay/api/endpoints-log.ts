/** The SMTP log, one message, stats, the errors list and reports (docs/reference/api.md). */
import { z } from "zod";
import type { DeliveryStats, ReportDimension } from "../vocabulary.js";
import { canSee } from "./auth.js";
import { defineEndpoint, type Endpoint } from "./endpoint.js";
import { accountNameParam } from "./endpoints-accounts.js";
import { ApiError, limitParam, parseWith, type Reply, timeParam } from "./http.js";
import {
  addressSchema,
  errorRecordSchema,
  groupBodySchema,
  messageRecordSchema,
  messageSummarySchema,
  pageSchema,
  recipientStatusSchema,
  reportRowSchema,
  STATS_COLUMNS,
  statsSchema,
} from "./schemas.js";

const MESSAGE_COLUMNS = ["id", "acceptedAt", "from", "subject", "size", "group", "recipients"];
const ERROR_COLUMNS = ["at", "code", "message", "messageId", "recipient", "notified"];
const REPORT_COLUMNS = ["key", "opens", "uniqueOpens", "clicks", "uniqueClicks"];

const rangeQuery = z.object({ since: timeParam, until: timeParam });

/** URL words for the report dimensions. */
const REPORTS: Record<string, ReportDimension> = { domains: "domain", geo: "country", timing: "hour" };

function statsReply(stats: DeliveryStats): Reply {
  return {
    kind: "table",
    json: stats,
    rows: [{ ...stats }],
    root: "stats",
    row: "stats",
    columns: STATS_COLUMNS,
  };
}

export const logEndpoints: Endpoint[] = [
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name/messages",
    access: "account",
    tag: "log",
    summary: "The SMTP log, newest first, filtered and paged",
    query: rangeQuery.extend({
      rcpt: addressSchema.optional(),
      status: recipientStatusSchema.optional(),
      group: groupBodySchema.shape.name.optional(),
      limit: limitParam,
      cursor: z.string().max(1024).optional(),
    }),
    response: {
      status: 200,
      description: "messages",
      schema: pageSchema(messageSummarySchema),
      table: { root: "messages", row: "message" },
    },
    async handle({ api, params, query }) {
      const page = await api.store.listMessages(accountNameParam(params.name), query);
      return {
        kind: "table",
        json: page,
        rows: page.items,
        root: "messages",
        row: "message",
        columns: MESSAGE_COLUMNS,
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/messages/:id",
    access: "caller",
    tag: "log",
    summary: "One message: envelope, subject, size, group, each recipient's attempts, its events",
    response: { status: 200, description: "the message", schema: messageRecordSchema },
    async handle({ api, params, principal }) {
      const message = await api.store.getMessage(params.id ?? "");
      // Another account's message is "not found", not "forbidden": IDs are not confirmed to strangers.
      if (!message || !canSee(principal, message.account)) throw new ApiError("not_found", "no such message");
      return { kind: "json", body: message };
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/messages/:id/stats",
    access: "caller",
    tag: "stats",
    summary: "Counts for one message",
    response: {
      status: 200,
      description: "stats",
      schema: statsSchema,
      table: { root: "stats", row: "stats" },
    },
    async handle({ api, params, principal }) {
      const id = params.id ?? "";
      if (principal.role !== "admin") {
        const message = await api.store.getMessage(id);
        if (!message || !canSee(principal, message.account))
          throw new ApiError("not_found", "no such message");
      }
      const stats = await api.store.getMessageStats(id);
      if (!stats) throw new ApiError("not_found", "no such message");
      return statsReply(stats);
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name/groups/:group/stats",
    access: "account",
    tag: "stats",
    summary: "Counts for one transactional group over a time range (whole UTC hours)",
    query: rangeQuery,
    response: {
      status: 200,
      description: "stats",
      schema: statsSchema,
      table: { root: "stats", row: "stats" },
    },
    async handle({ api, params, query }) {
      const group = parseWith(groupBodySchema.shape.name, params.group, "group");
      return statsReply(await api.store.getGroupStats(accountNameParam(params.name), group, query));
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name/errors",
    access: "account",
    tag: "log",
    summary: "Errors found after acceptance, with the notifications sent, newest first",
    query: rangeQuery.extend({ limit: limitParam, cursor: z.string().max(1024).optional() }),
    response: {
      status: 200,
      description: "errors",
      schema: pageSchema(errorRecordSchema),
      table: { root: "errors", row: "error" },
    },
    async handle({ api, params, query }) {
      const page = await api.store.listErrors(accountNameParam(params.name), query);
      return {
        kind: "table",
        json: page,
        rows: page.items,
        root: "errors",
        row: "error",
        columns: ERROR_COLUMNS,
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
    },
  }),
  defineEndpoint({
    method: "GET",
    pattern: "/v1/accounts/:name/reports/:report",
    access: "account",
    tag: "reports",
    summary: "Non-bot opens and clicks by recipient domain (domains), country (geo) or UTC hour (timing)",
    query: rangeQuery,
    response: {
      status: 200,
      description: "rows sorted by key",
      schema: pageSchema(reportRowSchema),
      table: { root: "report", row: "row" },
    },
    async handle({ api, params, query }) {
      const dimension = parseWith(z.enum(["domains", "geo", "timing"]), params.report, "report");
      const items = await api.store.getReport(
        accountNameParam(params.name),
        REPORTS[dimension] ?? "domain",
        query,
      );
      return {
        kind: "table",
        json: { items },
        rows: items,
        root: "report",
        row: "row",
        columns: REPORT_COLUMNS,
      };
    },
  }),
];
