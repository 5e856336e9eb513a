/** The files of docs/reference/, each generated from the code it describes (scripts/write-reference.ts). */
import { apiReference } from "./api.js";
import { configReference } from "./config.js";
import { customResourcesReference } from "./custom-resources.js";
import { metricsReference } from "./metrics.js";
import { smtpRepliesReference } from "./smtp-replies.js";

export const REFERENCE_DIR = "docs/reference";

export function referenceFiles(): Record<string, string> {
  return {
    "config.md": configReference(),
    "smtp-replies.md": smtpRepliesReference(),
    "api.md": apiReference(),
    "custom-resources.md": customResourcesReference(),
    "metrics.md": metricsReference(),
  };
}
