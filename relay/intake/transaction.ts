/**
 * One SMTP transaction's decisions, from AUTH to the 250: who may relay,
 * which recipients are refused, and the DATA path into the spool. smtp-server
 * calls these through the thin wiring in server.ts.
 */
import type { Readable } from "node:stream";
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerSession } from "smtp-server";
import { fromMatches } from "../accounts/match.js";
import type { Account } from "../accounts/schema.js";
import type { RelayConfig } from "../config/schema.js";
import { RelayError } from "../errors.js";
import type { FeedbackIntake } from "../feedback/index.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/index.js";
import type { SpooledEnvelope } from "../spool/envelope.js";
import type { Spool, SpoolEntry, SpoolWriter } from "../spool/spool.js";
import { type Store, StoreError } from "../store/types.js";
import { malformedLineOffset } from "../transform/header-block.js";
import { GROUP_NAME_PATTERN, type SuppressionEntry } from "../vocabulary.js";
import type { AccountDirectory } from "./accounts.js";
import { envelopeAddressProblem } from "./addresses.js";
import { AuthLimits } from "./auth-limits.js";
import { DataGuard } from "./data-guard.js";
import { firstHeader, fromAddresses } from "./headers.js";

export interface IntakeDeps {
  config: Pick<RelayConfig, "hostname" | "maxMessageBytes" | "intake">;
  store: Store;
  spool: Spool;
  accounts: AccountDirectory;
  logger: Logger;
  metrics: Metrics;
  newId: () => string;
  /** Hands a durable message to the scheduler. */
  onAccepted: (entry: SpoolEntry) => void;
  now?: () => number;
  /** Base delay after a failed AUTH, multiplied by the IP's recent failures (default 1000 ms). */
  authFailureDelayMs?: number;
  /** Mail for the bounce domain (relay/feedback); absent: no bounce domain. */
  feedback?: FeedbackIntake;
}

/** What the intake remembers about one connection. */
export interface SessionState {
  ip: string;
  listener: string;
  startedAt: number;
  authFailures: number;
  authAccount?: Account;
  /** The account of the current transaction (set at MAIL FROM). */
  account?: Account;
  refused: SpooledEnvelope["refused"];
  writer?: SpoolWriter;
  /** Bounce-domain recipients of the current transaction: taken by relay/feedback, never relayed. */
  feedbackTo?: string[];
  dataStartedAt?: number;
  dataBytes: number;
}

export function newSessionState(ip: string, listener: string, now: number): SessionState {
  return { ip, listener, startedAt: now, authFailures: 0, refused: [], dataBytes: 0 };
}

function storeFailure(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  const detail = error instanceof StoreError ? error.code : "error";
  return new RelayError("store_unavailable", `Temporary lookup failure (store ${detail}), try again later`, {
    cause: error,
  });
}

export class Transactions {
  private readonly now: () => number;
  private readonly authLimits: AuthLimits;

  constructor(private readonly deps: IntakeDeps) {
    this.now = deps.now ?? Date.now;
    const { intake } = deps.config;
    this.authLimits = new AuthLimits(
      deps.store,
      {
        perConnection: intake.maxAuthFailuresPerConnection,
        perClient: intake.maxAuthFailuresPerIp,
        perUsername: intake.maxAuthFailuresPerUsername,
      },
      this.now,
    );
  }

  async auth(auth: SMTPServerAuthentication, state: SessionState): Promise<{ user: string }> {
    const username = auth.username ?? "";
    const refusal = this.authLimits.refusal(state.ip, username);
    if (refusal === "client") {
      throw this.refuse("auth_rate_limited", "Too many authentication failures from your address, try later");
    }
    if (refusal === "username") {
      throw this.refuse(
        "auth_user_rate_limited",
        "Too many authentication failures for this user, try later",
      );
    }
    const account = await this.deps.accounts
      .authenticate(username, auth.password ?? "")
      .catch((error: unknown) => {
        throw storeFailure(error);
      });
    if (account) {
      state.authAccount = account;
      return { user: account.name };
    }
    state.authFailures++;
    const verdict = await this.authLimits.failed(
      state.ip,
      username,
      state.authFailures,
      this.deps.authFailureDelayMs ?? 1000,
    );
    this.deps.metrics.rejections.inc({ reason: "auth_failed" });
    if (verdict.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, verdict.delayMs));
    if (verdict.kind === "close")
      throw new RelayError("auth_rate_limited", "Too many authentication failures, closing connection");
    if (verdict.kind === "user_locked")
      throw new RelayError(
        "auth_user_rate_limited",
        "Too many authentication failures for this user, try later",
      );
    throw new RelayError("auth_failed", "Authentication failed");
  }

  async mailFrom(address: SMTPServerAddress, state: SessionState): Promise<void> {
    state.account = undefined;
    state.refused = [];
    state.feedbackTo = [];
    const sender = address.address;
    const problem = envelopeAddressProblem(sender, "sender");
    if (problem) throw this.refuse("bad_address", `Bad sender address: ${problem}`);
    const declared = Number(address.args && (address.args as Record<string, string>).SIZE) || 0;
    const free = await this.deps.spool.freeBytes().catch(() => 0);
    if (free < this.deps.config.intake.minFreeBytes + declared) {
      throw this.refuse("disk_full", "Insufficient system storage, try again later");
    }
    let account: Account | undefined;
    try {
      if (state.authAccount) {
        account = fromMatches(state.authAccount.allowedFrom, sender) ? state.authAccount : undefined;
      } else if (sender !== "") {
        account = await this.deps.accounts.forClient(state.ip, sender);
      }
    } catch (error) {
      throw storeFailure(error);
    }
    // Issue 11: with a bounce domain, a sender with no account may still write to it; RCPT decides.
    if (!account && this.deps.feedback) return;
    if (!account) throw this.refuse("relay_denied", `Relaying denied for [${state.ip}] / <${sender}>`);
    state.account = account;
  }

  async rcptTo(address: SMTPServerAddress, session: SMTPServerSession, state: SessionState): Promise<void> {
    if (this.deps.feedback?.handles(address.address))
      return this.feedbackRcpt(address.address, session, state);
    if (state.feedbackTo?.length) {
      throw this.refuse("too_many_recipients", "Bounce-domain recipients go in a transaction of their own");
    }
    const account = state.account;
    if (!account) {
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
      throw this.refuse("relay_denied", `Relaying denied for [${state.ip}] / <${sender}>`);
    }
    const recipient = address.address;
    const problem = envelopeAddressProblem(recipient, "recipient");
    if (problem) throw this.refuse("bad_address", `Bad recipient address <${recipient}>: ${problem}`);
    let suppressions: SuppressionEntry[];
    try {
      suppressions = (await this.deps.store.suppressionsFor(account.name, recipient)).filter(
        (entry) =>
          !(entry.list === "unsubscribes" && account.bypassUnsubscribes) &&
          !(entry.list === "complaints" && account.bypassComplaints),
      );
    } catch (error) {
      throw storeFailure(error);
    }
    const listed = suppressions[0];
    if (listed) {
      const reason = `Recipient <${recipient}> is on the ${listed.list} list of account ${account.name}`;
      if (account.suppression === "reject") throw this.refuse("suppressed", reason);
      state.refused.push({ address: recipient, code: "suppressed", reason });
    }
    if (account.suppression === "reject" && hasLimits(account)) {
      const counts = await this.deps.store.getCounts(account.name, this.now()).catch((error: unknown) => {
        throw storeFailure(error);
      });
      const pending = session.envelope.rcptTo.length + 1;
      const { limits } = account;
      const over =
        (limits.perHour > 0 && counts.hour + pending > limits.perHour) ||
        (limits.perDay > 0 && counts.day + pending > limits.perDay) ||
        (limits.perMonth > 0 && counts.month + pending > limits.perMonth);
      if (over && !limits.overageAllowed) {
        throw this.refuse("over_limit", `Account ${account.name} is over its sending limit, try later`);
      }
    }
  }

  /** Issue 11: the bounce domain takes only addresses with a valid token (or feedback-loop addresses). */
  private feedbackRcpt(recipient: string, session: SMTPServerSession, state: SessionState): void {
    const problem = envelopeAddressProblem(recipient, "recipient");
    if (problem) throw this.refuse("bad_address", `Bad recipient address <${recipient}>: ${problem}`);
    const refusal = this.deps.feedback?.refusal(recipient);
    if (refusal) throw this.refuse("bad_bounce_address", refusal);
    const feedbackTo = state.feedbackTo ?? [];
    if (session.envelope.rcptTo.length > feedbackTo.length) {
      throw this.refuse("too_many_recipients", "Bounce-domain recipients go in a transaction of their own");
    }
    // Anyone may send reports, so each one a client without AUTH starts is counted against its rate.
    if (feedbackTo.length === 0 && !state.authAccount && !this.deps.feedback?.admit(state.ip)) {
      throw this.refuse("report_rate_limited", "Too many reports from your address, try later");
    }
    feedbackTo.push(recipient);
    state.feedbackTo = feedbackTo;
  }

  /** Streams DATA into the spool; resolves with the reply text for a 250. */
  async data(stream: Readable & { sizeExceeded?: boolean }, session: SMTPServerSession, state: SessionState) {
    const feedbackTo = state.feedbackTo ?? [];
    if (this.deps.feedback && feedbackTo.length > 0) {
      const from = session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address;
      return this.deps.feedback
        .receive(stream, { from, to: [...feedbackTo], clientIp: state.ip })
        .catch((error: unknown) => {
          if (error instanceof RelayError) this.deps.metrics.rejections.inc({ reason: error.code });
          throw error;
        });
    }
    const account = state.account;
    const recipients = session.envelope.rcptTo.map((r) => r.address);
    if (!account || session.envelope.mailFrom === false) {
      stream.resume();
      throw this.refuse("relay_denied", `Relaying denied for [${state.ip}]`);
    }
    const id = this.deps.newId();
    const envelope: SpooledEnvelope = {
      v: 1,
      id,
      account: account.name,
      from: session.envelope.mailFrom.address,
      to: recipients,
      clientIp: state.ip,
      heloName: session.hostNameAppearsAs || "",
      ...(state.authAccount ? { authUser: state.authAccount.name } : {}),
      receivedAt: this.now(),
      listener: state.listener,
      transmissionType: session.transmissionType,
      refused: [...state.refused],
    };
    const guard = new DataGuard({ maxBytes: this.deps.config.maxMessageBytes });
    let writer: SpoolWriter;
    try {
      writer = await this.deps.spool.create(envelope);
    } catch (error) {
      stream.resume();
      throw this.spoolFailure(error);
    }
    state.writer = writer;
    state.dataStartedAt = this.now();
    state.dataBytes = 0;
    try {
      await pump(stream, guard, writer, state);
      const header = guard.header ?? Buffer.alloc(0);
      if (guard.problem) throw this.refuse(guard.problem.code, guard.problem.message);
      const group = this.checkHeader(header, account);
      await this.applyLimits(account, envelope);
      const entry = await writer.commit().catch((error: unknown) => {
        throw this.spoolFailure(error);
      });
      await this.logAccepted(entry, header, group).catch(async (error: unknown) => {
        await this.deps.spool.remove(id).catch(() => undefined);
        throw storeFailure(error);
      });
      this.deps.metrics.messagesAccepted.inc({ account: account.name });
      // Delivered untouched (relay/transform): counted once here, where every message passes.
      if (malformedLineOffset(header) !== -1) this.deps.metrics.malformedHeaderBlocks.inc();
      this.deps.onAccepted(entry);
      return `2.0.0 Ok: queued as ${id}`;
    } catch (error) {
      await writer.abort();
      throw error instanceof RelayError ? error : this.spoolFailure(error);
    } finally {
      state.writer = undefined;
      state.dataStartedAt = undefined;
    }
  }

  private checkHeader(header: Buffer, account: Account): string | undefined {
    const from = fromAddresses(header);
    if (from.length === 0) throw this.refuse("from_not_allowed", "Message has no From header address");
    const denied = from.find((address) => !fromMatches(account.allowedFrom, address));
    if (denied)
      throw this.refuse("from_not_allowed", `From <${denied}> is not allowed for account ${account.name}`);
    const group = firstHeader(header, "x-relay-group");
    if (group !== undefined && !GROUP_NAME_PATTERN.test(group)) {
      throw this.refuse("bad_header", "X-Relay-Group must be 1-128 letters, digits, spaces or ._:@/+-");
    }
    return group;
  }

  /** Counts the copies against the account's limits; over them, notify mode refuses every recipient after acceptance. */
  private async applyLimits(account: Account, envelope: SpooledEnvelope): Promise<void> {
    if (!hasLimits(account)) return;
    const refusedAlready = new Set(envelope.refused.map((r) => r.address));
    const count = envelope.to.filter((address) => !refusedAlready.has(address)).length;
    if (count === 0) return;
    const check = await this.deps.store
      .checkAndIncrement(account.name, account.limits, count, this.now())
      .catch((error: unknown) => {
        throw storeFailure(error);
      });
    if (check.allowed) return;
    const reason = `Account ${account.name} is over its ${check.exceeded ?? "sending"} limit`;
    if (account.suppression === "reject") throw this.refuse("over_limit", `${reason}, try later`);
    for (const address of envelope.to) {
      if (!refusedAlready.has(address)) envelope.refused.push({ address, code: "over_limit", reason });
    }
  }

  private async logAccepted(entry: SpoolEntry, header: Buffer, group: string | undefined): Promise<void> {
    const { store } = this.deps;
    const { envelope } = entry;
    if (group) await store.addGroup(envelope.account, group, envelope.receivedAt);
    const subject = firstHeader(header, "subject");
    const messageIdHeader = firstHeader(header, "message-id");
    await store.recordMessage({
      id: envelope.id,
      account: envelope.account,
      from: envelope.from,
      recipients: envelope.to,
      size: entry.size,
      acceptedAt: envelope.receivedAt,
      clientIp: envelope.clientIp,
      ...(subject !== undefined ? { subject: subject.slice(0, 998) } : {}),
      ...(group ? { group } : {}),
      ...(envelope.authUser ? { authUser: envelope.authUser } : {}),
      ...(messageIdHeader ? { messageIdHeader: messageIdHeader.slice(0, 998) } : {}),
    });
    for (const refused of envelope.refused) {
      await store.markSuppressed(envelope.id, refused.address, refused.reason, envelope.receivedAt);
    }
  }

  private refuse(code: ConstructorParameters<typeof RelayError>[0], message: string): RelayError {
    this.deps.metrics.rejections.inc({ reason: code });
    return new RelayError(code, message);
  }

  private spoolFailure(error: unknown): RelayError {
    if (error instanceof RelayError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    this.deps.logger.error({ err: error }, "spool write failed");
    if (code === "ENOSPC" || code === "EDQUOT") {
      return this.refuse("disk_full", "Insufficient system storage, try again later");
    }
    return this.refuse("spool_error", "Local error in processing, try again later");
  }
}

function hasLimits(account: Account): boolean {
  const { perHour, perDay, perMonth } = account.limits;
  return perHour > 0 || perDay > 0 || perMonth > 0;
}

/**
 * Moves DATA through the guard into the spool file with backpressure. The
 * SMTP stream is always read to its end (smtp-server needs that to answer),
 * even once the guard has found a problem and stopped the output.
 */
function pump(stream: Readable, guard: DataGuard, writer: SpoolWriter, state: SessionState): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed: Error | undefined;
    const out = writer.stream;
    const onWriteError = (error: Error) => {
      failed ??= error;
      stream.resume();
    };
    out.on("error", onWriteError);
    const write = (parts: Buffer[]) => {
      for (const part of parts) {
        if (failed || part.length === 0) continue;
        if (!out.write(part)) {
          stream.pause();
          out.once("drain", () => stream.resume());
        }
      }
    };
    stream.on("data", (chunk: Buffer) => {
      state.dataBytes += chunk.length;
      write(guard.feed(chunk));
    });
    stream.once("error", reject);
    stream.once("end", () => {
      write(guard.end());
      out.off("error", onWriteError);
      if (failed) reject(failed);
      else resolve();
    });
  });
}
