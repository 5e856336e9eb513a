/**
 * The API's HTTP vocabulary: what a handler returns (`Reply`), the one error
 * type (`ApiError`, with a code and, for 400s, the fields at fault), body and
 * query validation with zod, and writing a Reply in the negotiated format.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ZodType, z } from "zod";
import { CONTENT_TYPES, type Format, negotiateFormat, type Row, toCsv, toXml } from "./formats.js";

export type ApiErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "not_acceptable"
  | "payload_too_large"
  | "unsupported_media_type"
  | "conflict"
  | "unavailable"
  | "internal";

const STATUS: Record<ApiErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  payload_too_large: 413,
  unsupported_media_type: 415,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

export interface FieldIssue {
  /** Dotted path into the body, or the query parameter's name. */
  field: string;
  message: string;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly issues: FieldIssue[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

/** A list or stats answer: JSON as is, or the rows as CSV/XML. */
export interface TableReply {
  kind: "table";
  status?: number;
  json: unknown;
  rows: Row[];
  /** XML root and row element names, e.g. "messages" / "message". */
  root: string;
  row: string;
  /** CSV header for an empty list, and the leading column order. */
  columns?: readonly string[];
  nextCursor?: string;
}

export type Reply =
  | TableReply
  /** Not tabular (one message, one account): JSON only. */
  | { kind: "json"; status?: number; body: unknown; headers?: Record<string, string> }
  | { kind: "empty"; status: 204 };

export function issuesOf(error: z.ZodError, prefix?: string): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    return { field: [prefix, path].filter(Boolean).join(".") || "(body)", message: issue.message };
  });
}

export function invalid(issues: FieldIssue[]): ApiError {
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join("; ");
  return new ApiError("invalid_request", `invalid request: ${summary}`, issues);
}

export function parseWith<T extends ZodType>(schema: T, value: unknown, prefix?: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(issuesOf(result.error, prefix));
  return result.data;
}

/** Query parameters as a plain object (the first value of each), validated by `schema`. */
export function parseQuery<T extends ZodType>(schema: T, params: URLSearchParams): z.output<T> {
  const values: Record<string, string> = {};
  for (const [key, value] of params) if (!(key in values)) values[key] = value;
  return parseWith(schema, values);
}

const MAX_BODY_BYTES = 1024 * 1024;

/** The JSON body; 415 unless it is JSON, 413 over 1 MiB, 400 when it does not parse. */
export async function readJson(request: IncomingMessage): Promise<unknown> {
  const type = (request.headers["content-type"] ?? "application/json").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json" && !type?.endsWith("+json")) {
    throw new ApiError("unsupported_media_type", "send the body as application/json");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError("payload_too_large", "the body is larger than 1 MiB");
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalid([{ field: "(body)", message: `not valid JSON: ${(error as Error).message}` }]);
  }
}

/** A time given as milliseconds since the epoch or as an ISO 8601 date/time. */
export const timeParam = z
  .string()
  .transform((text, ctx) => {
    const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: "custom", message: "milliseconds since the epoch or an ISO 8601 time" });
      return z.NEVER;
    }
    return ms;
  })
  .optional();

export const limitParam = z.coerce.number().int().min(1).max(1000).optional();

export function writeReply(request: IncomingMessage, response: ServerResponse, reply: Reply, url: URL): void {
  if (reply.kind === "empty") {
    response.writeHead(204, { "cache-control": "no-store" });
    response.end();
    return;
  }
  if (reply.kind === "json") {
    writeJson(response, reply.status ?? 200, reply.body, reply.headers);
    return;
  }
  const format: Format | undefined = negotiateFormat(url.searchParams.get("format"), request.headers.accept);
  if (!format) throw new ApiError("not_acceptable", "ask for format json, csv or xml");
  const headers: Record<string, string> = {
    "cache-control": "no-store",
    "content-type": CONTENT_TYPES[format],
    vary: "accept",
  };
  if (reply.nextCursor) headers["x-next-cursor"] = reply.nextCursor;
  let body: string;
  if (format === "json") body = `${JSON.stringify(reply.json)}\n`;
  else if (format === "csv") body = toCsv(reply.rows, reply.columns);
  else body = toXml(reply.root, reply.row, reply.rows, reply.nextCursor);
  response.writeHead(reply.status ?? 200, headers);
  response.end(body);
}

export function writeJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  response.writeHead(status, {
    "content-type": CONTENT_TYPES.json,
    "cache-control": "no-store",
    ...extraHeaders,
  });
  response.end(`${JSON.stringify(body)}\n`);
}

export function writeError(response: ServerResponse, error: ApiError): void {
  const body: Record<string, unknown> = { error: error.code, message: error.message };
  if (error.issues.length > 0) body.issues = error.issues;
  writeJson(response, error.status, body, error.headers);
}
