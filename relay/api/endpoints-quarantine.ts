/**
 * The quarantine (relay/spool/quarantine.ts): messages taken out of this
 * relay's queue because copying them was the trouble. Admin only; each relay
 * answers for its own spool.
 */
import { z } from "zod";
import { MESSAGE_ID_PATTERN } from "../spool/id.js";
import { quarantineRecordSchema } from "../spool/quarantine.js";
import { defineEndpoint, type Endpoint } from "./endpoint.js";
import { ApiError, parseWith } from "./http.js";

/** What the API reaches of the quarantine (the running scheduler's). */
export interface QuarantineAccess {
  list(): Promise<z.output<typeof quarantineRecordSchema>[]>;
  /** False when there is no such message. */
  release(id: string): Promise<boolean>;
}

const messageIdParam = z
  .string()
  .regex(MESSAGE_ID_PATTERN, "a message ID (23 lower-case letters and digits)");

function access(quarantine: QuarantineAccess | undefined): QuarantineAccess {
  if (!quarantine) throw new ApiError("unavailable", "this relay has no quarantine (no scheduler)");
  return quarantine;
}

export const quarantineEndpoints: Endpoint[] = [
  defineEndpoint({
    method: "GET",
    pattern: "/v1/admin/quarantine",
    access: "admin",
    tag: "admin",
    summary:
      "Messages this relay holds in quarantine (copy past its deadline, crashing, crash loop), newest first",
    response: {
      status: 200,
      description: "quarantined messages",
      schema: z.object({ items: z.array(quarantineRecordSchema) }),
    },
    async handle({ api }) {
      return { kind: "json", body: { items: await access(api.quarantine).list() } };
    },
  }),
  defineEndpoint({
    method: "POST",
    pattern: "/v1/admin/quarantine/:id/release",
    access: "admin",
    tag: "admin",
    summary: "Put a quarantined message back in the queue, for the recipients it was quarantined for",
    response: {
      status: 200,
      description: "released",
      schema: z.object({ id: z.string(), status: z.literal("released") }),
    },
    async handle({ api, params }) {
      const id = parseWith(messageIdParam, params.id, "id");
      if (!(await access(api.quarantine).release(id)))
        throw new ApiError("not_found", `no quarantined message ${id}`);
      return { kind: "json", body: { id, status: "released" } };
    },
  }),
];
