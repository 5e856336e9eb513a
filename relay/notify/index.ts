/** Notifications about errors found after acceptance: who, what (RFC 3464 DSNs), and the spooling shell. */
export { buildDsn, type DsnInput, type DsnRecipient, oneLine, rfc5322Date } from "./dsn.js";
export {
  type AfterAcceptanceCode,
  type Failure,
  Notifier,
  type NotifierOptions,
} from "./notifier.js";
export { isNotification, noticeRecipients } from "./recipients.js";
