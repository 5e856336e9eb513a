/**
 * Errors as a real API server shapes them: a metav1.Status with reason, code,
 * details and causes, so kubectl, helm and client-node print what they would
 * print against a real cluster. Messages follow apimachinery's
 * pkg/api/errors wording.
 */
import type { JsonObject } from "./json.js";
import type { ResourceType } from "./resource-types.js";

export type StatusReason =
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Invalid"
  | "BadRequest"
  | "MethodNotAllowed"
  | "NotAcceptable"
  | "UnsupportedMediaType"
  | "Gone"
  | "Expired"
  | "Forbidden"
  | "Unauthorized"
  | "InternalError";

/** One field problem, as in metav1.StatusCause (field paths without a leading dot, like field.Path). */
export interface Cause {
  reason: string;
  message: string;
  field?: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: { name?: string; group?: string; kind?: string; causes?: Cause[] },
  ) {
    super(message);
  }

  toStatus(): JsonObject {
    const status: JsonObject = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) {
      const details: JsonObject = {};
      if (this.details.name !== undefined) details.name = this.details.name;
      if (this.details.group !== undefined) details.group = this.details.group;
      if (this.details.kind !== undefined) details.kind = this.details.kind;
      if (this.details.causes) details.causes = this.details.causes.map((cause) => ({ ...cause }));
      status.details = details;
    }
    return status;
  }
}

/** "deployments.apps" or "configmaps": how apimachinery names a resource in messages. */
export function qualifiedResource(type: Pick<ResourceType, "group" | "plural">): string {
  return type.group ? `${type.plural}.${type.group}` : type.plural;
}

export function notFound(type: Pick<ResourceType, "group" | "plural">, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualifiedResource(type)} "${name}" not found`, {
    name,
    group: type.group,
    kind: type.plural,
  });
}

export function alreadyExists(type: Pick<ResourceType, "group" | "plural">, name: string): ApiError {
  return new ApiError(409, "AlreadyExists", `${qualifiedResource(type)} "${name}" already exists`, {
    name,
    group: type.group,
    kind: type.plural,
  });
}

export function conflict(type: Pick<ResourceType, "group" | "plural">, name: string, why: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": ${why}`,
    { name, group: type.group, kind: type.plural },
  );
}

export const MODIFIED_SINCE =
  "the object has been modified; please apply your changes to the latest version and try again";

/** A field error in field.Error's words: `spec.replicas: Invalid value: -1: must be ...`. */
export interface FieldError {
  /** "FieldValueInvalid", "FieldValueRequired", "FieldValueNotSupported", "FieldValueTooLong", ... */
  reason: string;
  field: string;
  /** The full text after the field path, e.g. `Required value` or `Invalid value: 3: must be ...`. */
  detail: string;
}

export function invalid(
  type: Pick<ResourceType, "group" | "kind">,
  name: string,
  errors: FieldError[],
): ApiError {
  const kind = type.group ? `${type.kind}.${type.group}` : type.kind;
  const lines = errors.map((error) => (error.field ? `${error.field}: ${error.detail}` : error.detail));
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(", ")}]`;
  return new ApiError(422, "Invalid", `${kind} "${name}" is invalid: ${summary}`, {
    name,
    group: type.group,
    kind: type.kind,
    causes: errors.map((error) => ({ reason: error.reason, message: error.detail, field: error.field })),
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

export function methodNotAllowed(verb: string): ApiError {
  return new ApiError(
    405,
    "MethodNotAllowed",
    `the server does not allow this method on the requested resource`,
    {
      causes: [{ reason: "MethodNotAllowed", message: `${verb} is not supported here` }],
    },
  );
}

export function gone(message: string): ApiError {
  return new ApiError(410, "Expired", message);
}

export function forbidden(type: Pick<ResourceType, "group" | "plural">, name: string, why: string): ApiError {
  return new ApiError(403, "Forbidden", `${qualifiedResource(type)} "${name}" is forbidden: ${why}`, {
    name,
    group: type.group,
    kind: type.plural,
  });
}

/** 401 with the body kube-apiserver sends for a missing, unknown or expired token. */
export function unauthorized(): ApiError {
  return new ApiError(401, "Unauthorized", "Unauthorized");
}

/** What the server answers for a path it does not serve at all (no resource type behind it). */
export function pathNotFound(): ApiError {
  return new ApiError(404, "NotFound", "the server could not find the requested resource");
}
