/**
 * The sample set: real DSNs, ARF reports and prose bounces from public
 * sources (test/feedback/fixtures/SOURCES.md), with what each must mean for
 * the recipient its return path names.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FeedbackKind } from "../../relay/feedback/index.js";

const here = import.meta.dirname;

export interface Sample {
  name: string;
  file: string;
  kind: FeedbackKind;
  /** What the report itself is. */
  report: "dsn" | "arf" | "prose" | "unknown";
  status?: string;
}

export const SAMPLES: readonly Sample[] = [
  {
    name: "Exchange 2007 relaying Gmail's 550 5.1.1",
    file: "fixtures/rgl-exchange2007-gmail-user-unknown.eml",
    report: "dsn",
    kind: "hard_bounce",
    status: "5.1.1",
  },
  {
    name: "Exchange delay notice (4.4.7)",
    file: "fixtures/rgl-exchange-delayed.eml",
    report: "dsn",
    kind: "delayed",
    status: "4.4.7",
  },
  {
    name: "qmail QSBMF, no such host",
    file: "fixtures/rgl-qmail-no-host.eml",
    report: "prose",
    kind: "hard_bounce",
    status: "5.1.2",
  },
  {
    name: "SendGrid DSN, 550 5.1.1 from goo.ne.jp",
    file: "fixtures/sendgrid-dsn-user-unknown.trimmed.eml",
    report: "dsn",
    kind: "hard_bounce",
    status: "5.1.1",
  },
  {
    name: "SendGrid DSN, Comcast spam block, empty Status",
    file: "fixtures/sendgrid-ndr-comcast-block.trimmed.eml",
    report: "dsn",
    kind: "soft_bounce",
  },
  {
    name: "Hotmail ARF auth-failure",
    file: "fixtures/sendgrid-fbl-hotmail-auth-failure.trimmed.eml",
    report: "arf",
    kind: "ignored",
  },
  {
    name: "RFC 5965 B.2 abuse report",
    file: "fixtures/rfc5965-b2-abuse.eml",
    report: "arf",
    kind: "complaint",
  },
  {
    name: "Sendmail 553 5.3.0 unknown address",
    file: "../fixtures/corpus/mikel-mail__fixtures_emails_multipart_report_emails_report_530.eml",
    report: "dsn",
    kind: "soft_bounce",
    status: "5.3.0",
  },
  {
    name: "Postfix, five Gmail 5.1.1 recipients",
    file: "../fixtures/corpus/mikel-mail__fixtures_emails_multipart_report_emails_multi_address_bounce1.eml",
    report: "dsn",
    kind: "hard_bounce",
    status: "5.1.1",
  },
  {
    name: "Mail System Error 5.3.0",
    file: "../fixtures/corpus/mikel-mail__fixtures_emails_multipart_report_emails_multipart_report_multiple_status.eml",
    report: "dsn",
    kind: "soft_bounce",
    status: "5.3.0",
  },
  {
    name: "Amazon SES suppression-list DSN",
    file: "../fixtures/corpus/mailparser__fixtures_delivery-status.eml",
    report: "dsn",
    kind: "hard_bounce",
    status: "5.1.1",
  },
  {
    name: "An ordinary message (not a report)",
    file: "../fixtures/corpus/mailparser__fixtures_mixed.eml",
    report: "unknown",
    kind: "unparseable",
  },
];

export function sampleBytes(sample: Pick<Sample, "file">): Buffer {
  return readFileSync(join(here, sample.file));
}
