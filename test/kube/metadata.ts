/** ObjectMeta rules every kind shares: names, labels, and the fields the server owns. */
import { randomBytes, randomUUID } from "node:crypto";
import type { FieldError } from "./errors.js";
import { isObject, type JsonObject } from "./json.js";
import type { ResourceType } from "./resource-types.js";

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

const SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MESSAGE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/** Kinds whose names must be DNS labels rather than subdomains. */
const LABEL_NAMED = new Set(["Namespace", "Service"]);
/** RBAC objects accept any path-segment name (system:controller:... and the like). */
const PATH_SEGMENT_NAMED = new Set(["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]);

export function validateName(type: ResourceType, name: string, path = "metadata.name"): FieldError[] {
  if (PATH_SEGMENT_NAMED.has(type.kind)) {
    if (name === "." || name === ".." || /[/%]/.test(name)) {
      return [
        {
          reason: "FieldValueInvalid",
          field: path,
          detail: `Invalid value: "${name}": may not contain '/' or '%'`,
        },
      ];
    }
    return [];
  }
  const label = LABEL_NAMED.has(type.kind);
  const pattern = label ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
  const errors: FieldError[] = [];
  if (!pattern.test(name)) {
    errors.push({
      reason: "FieldValueInvalid",
      field: path,
      detail: `Invalid value: "${name}": ${label ? LABEL_MESSAGE : SUBDOMAIN_MESSAGE}`,
    });
  }
  const max = label ? 63 : 253;
  if (name.length > max) {
    errors.push({
      reason: "FieldValueInvalid",
      field: path,
      detail: `Invalid value: "${name}": must be no more than ${max} characters`,
    });
  }
  return errors;
}

function validateKeyedStrings(map: unknown, path: string, checkValues: boolean): FieldError[] {
  const errors: FieldError[] = [];
  if (!isObject(map)) return errors;
  for (const [key, value] of Object.entries(map)) {
    const [prefix, name] = key.includes("/") ? key.split("/", 2) : [undefined, key];
    const badPrefix = prefix !== undefined && !DNS1123_SUBDOMAIN.test(prefix);
    if (!name || name.length > 63 || !QUALIFIED_NAME.test(name) || badPrefix) {
      errors.push({
        reason: "FieldValueInvalid",
        field: path,
        detail: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
      });
    }
    if (checkValues && typeof value === "string" && (value.length > 63 || !LABEL_VALUE.test(value))) {
      errors.push({
        reason: "FieldValueInvalid",
        field: path,
        detail: `Invalid value: "${value}": ${LABEL_VALUE_MESSAGE}`,
      });
    }
  }
  return errors;
}

export function validateMetadata(type: ResourceType, metadata: JsonObject): FieldError[] {
  const name = typeof metadata.name === "string" ? metadata.name : "";
  return [
    ...validateName(type, name),
    ...validateKeyedStrings(metadata.labels, "metadata.labels", true),
    ...validateKeyedStrings(metadata.annotations, "metadata.annotations", false),
  ];
}

/** generateName's random suffix, as the server picks it: 5 characters from a consonant-heavy alphabet. */
export function generatedName(prefix: string): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  const bytes = randomBytes(5);
  return prefix + [...bytes].map((byte) => alphabet[byte % alphabet.length]).join("");
}

export function newUid(): string {
  return randomUUID();
}

/** RFC 3339 in whole seconds, as metav1.Time serialises. */
export function nowTimestamp(clock: () => number = Date.now): string {
  return `${new Date(clock()).toISOString().slice(0, 19)}Z`;
}

/** Fields the server owns: clients' values are ignored on create and kept from the old object on update. */
export const SERVER_OWNED_METADATA = [
  "uid",
  "creationTimestamp",
  "generation",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "selfLink",
];
