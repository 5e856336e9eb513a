/**
 * The relay's front door: smtp-server listeners from config, wired to the
 * transaction logic, with the connection limits, deadlines and drain that
 * smtp-server leaves to the application (docs/intake.md).
 */
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { parseListenAddress } from "../config/schema.js";
import { RelayError } from "../errors.js";
import { clientKey } from "../limits/client-key.js";
import type { Metrics } from "../metrics/index.js";
import { authPolicy } from "./auth-policy.js";
import { adjustConnections } from "./smtp-compat.js";
import {
  readTlsMaterial,
  TLS_MIN_VERSION,
  type TlsFiles,
  type TlsMaterial,
  watchTlsMaterial,
} from "./tls.js";
import { type IntakeDeps, newSessionState, type SessionState, Transactions } from "./transaction.js";

export interface Intake {
  /** Bound addresses, in config order, listen.smtp then listen.smtps (port 0 resolved). */
  readonly addresses: { host: string; port: number; implicitTls: boolean }[];
  readonly draining: boolean;
  /** Connections open now. */
  readonly activeConnections: number;
  /** Stops taking mail (421 to new connections and idle ones); resolves when no DATA is in progress. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface IntakeOptions extends IntakeDeps {
  /** Plain listeners (STARTTLS when `tls` is set). */
  listen: string[];
  /** Implicit-TLS listeners (RFC 8314); need `tls`. */
  smtps?: string[];
  tls?: TlsFiles;
  /** The pair as already read and checked (startRelay reads it before anything else starts). */
  tlsMaterial?: TlsMaterial;
}

/** Puts the certificate in force into the TLS gauge. */
function showCertificate(metrics: Metrics, files: TlsFiles, material: TlsMaterial): void {
  metrics.tlsCertificateExpiry.set({ file: files.cert }, Math.floor(material.notAfter.getTime() / 1000));
}

function normalizeIp(ip: string): string {
  return ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
}

interface Connection {
  session: SMTPServerSession;
  send(code: number, data?: string): void;
  close(): void;
}

export async function startIntake(options: IntakeOptions): Promise<Intake> {
  const { config, logger, metrics } = options;
  const log = logger.child({ component: "intake" });
  const now = options.now ?? Date.now;
  const transactions = new Transactions(options);
  const sessions = new Map<string, SessionState>();
  const perIp = new Map<string, number>();
  /** Session → the client key it counts against in perIp (absent: exempt, or refused). */
  const countedAs = new Map<string, string>();
  /** Sessions whose onConnect is still deciding (onClose can come first). */
  const connecting = new Set<string>();
  const servers: SMTPServer[] = [];
  const addresses: { host: string; port: number; implicitTls: boolean }[] = [];
  let draining = false;
  const tlsFiles = options.tls;
  const tls = tlsFiles ? (options.tlsMaterial ?? readTlsMaterial(tlsFiles)) : undefined;
  if ((options.smtps ?? []).length > 0 && !tls) throw new Error("listen.smtps needs tls: { cert, key }");
  if (tlsFiles && tls) showCertificate(metrics, tlsFiles, tls);

  const stateOf = (session: SMTPServerSession): SessionState => {
    const state = sessions.get(session.id);
    if (!state) throw new RelayError("spool_error", "Session state lost");
    return state;
  };
  const settle = <T>(work: Promise<T>, callback: (error?: Error | null, value?: T) => void) => {
    work.then(
      (value) => callback(null, value),
      (error: unknown) => {
        if (!(error instanceof RelayError)) log.error({ err: error }, "intake handler failed");
        callback(error instanceof Error ? error : new Error(String(error)));
      },
    );
  };

  const listeners = [
    ...options.listen.map((spec) => ({ spec, implicitTls: false })),
    ...(options.smtps ?? []).map((spec) => ({ spec, implicitTls: true })),
  ];
  for (const { spec, implicitTls } of listeners) {
    const listen = parseListenAddress(spec);
    if (!listen) throw new Error(`bad listen address ${spec}`);
    const serverOptions: SMTPServerOptions = {
      name: config.hostname,
      // smtp-server already writes "220 <hostname> ESMTP " before the banner.
      banner: "relayfleet",
      size: config.maxMessageBytes,
      authMethods: ["PLAIN", "LOGIN"],
      authOptional: true,
      // The AUTH-before-TLS rule is ours (auth-policy.ts, applied in smtp-compat.ts).
      allowInsecureAuth: true,
      secure: implicitTls,
      disabledCommands: tls && !implicitTls ? [] : ["STARTTLS"],
      ...(tls ? { key: tls.key, cert: tls.cert, minVersion: TLS_MIN_VERSION } : {}),
      disableReverseLookup: true,
      hideENHANCEDSTATUSCODES: false,
      maxClients: config.intake.maxConnections,
      maxRecipients: config.intake.maxRecipients,
      socketTimeout: config.intake.idleTimeoutSeconds * 1000,
      closeTimeout: 30_000,
      // authOptional turns off the library's unauthenticated-commands limit; keep one.
      maxAllowedUnauthenticatedCommands: 20,
      useProxy: config.intake.proxyProtocolFrom.length > 0 ? config.intake.proxyProtocolFrom : false,
      logger: false,
      onConnect(session, callback) {
        const ip = normalizeIp(session.remoteAddress);
        if (draining)
          return callback(new RelayError("draining", `${config.hostname} is shutting down, try later`));
        // A customer's own servers (any account's allowedIps) are not capped; the Store being
        // unreachable only means the cap applies. Checked first: the count below is synchronous.
        connecting.add(session.id);
        options.accounts
          .isAllowedClient(ip)
          .catch(() => false)
          .then((exempt) => {
            // The client may have gone while the look-up ran: then onClose has already been.
            if (!connecting.delete(session.id))
              return callback(new RelayError("draining", "Connection closed"));
            if (draining)
              return callback(new RelayError("draining", `${config.hostname} is shutting down, try later`));
            // An IPv6 /64 is one client (relay/limits/client-key.ts).
            const key = clientKey(ip);
            if (!exempt) {
              const open = (perIp.get(key) ?? 0) + 1;
              if (open > config.intake.maxConnectionsPerIp) {
                metrics.rejections.inc({ reason: "too_many_connections" });
                return callback(
                  new RelayError("too_many_connections", "Too many connections from your address"),
                );
              }
              perIp.set(key, open);
              countedAs.set(session.id, key);
            }
            sessions.set(session.id, newSessionState(ip, spec, now()));
            metrics.sessions.inc();
            metrics.activeSessions.inc();
            callback();
          });
      },
      onClose(session) {
        connecting.delete(session.id);
        const key = countedAs.get(session.id);
        if (key !== undefined) {
          countedAs.delete(session.id);
          const left = (perIp.get(key) ?? 1) - 1;
          if (left <= 0) perIp.delete(key);
          else perIp.set(key, left);
        }
        const state = sessions.get(session.id);
        if (!state) return;
        sessions.delete(session.id);
        metrics.activeSessions.dec();
        // A client that vanished mid-DATA never heard 250: drop its partial file.
        void state.writer?.abort();
      },
      onSecure(_socket, session, callback) {
        // RFC 3207 4.2: nothing learnt before STARTTLS carries over (smtp-server drops its own user).
        const state = sessions.get(session.id);
        if (state) delete state.authAccount;
        callback();
      },
      onAuth(auth, session, callback) {
        settle(
          transactions.auth(auth, stateOf(session)),
          callback as (error?: Error | null, value?: { user: string }) => void,
        );
      },
      onMailFrom(address, session, callback) {
        settle(transactions.mailFrom(address, stateOf(session)), callback);
      },
      onRcptTo(address, session, callback) {
        settle(transactions.rcptTo(address, session, stateOf(session)), callback);
      },
      onData(stream, session, callback) {
        settle(transactions.data(stream, session, stateOf(session)), callback);
      },
    };
    const server = new SMTPServer(serverOptions);
    adjustConnections(server, {
      greetingDelayMs: config.intake.greetingDelayMs ?? (listen.port === 25 ? 100 : 0),
      authAllowed: (connection) =>
        authPolicy(listen, connection.secure, {
          insecureAuth: config.intake.insecureAuth,
          plainAuthOnLoopback: config.intake.plainAuthOnLoopback,
        }) === "offer",
      onAuthRefused: (error) => metrics.rejections.inc({ reason: error.code }),
    });
    server.on("error", (error) => log.warn({ err: error }, "SMTP connection error"));
    await new Promise<void>((resolve, reject) => {
      server.server.once("error", reject);
      server.listen(listen.port, listen.host, () => {
        server.server.off("error", reject);
        resolve();
      });
    });
    const bound = server.server.address();
    addresses.push({
      host: listen.host,
      port: typeof bound === "object" && bound ? bound.port : listen.port,
      implicitTls,
    });
    servers.push(server);
  }

  // Renewed certificates reach new sessions (STARTTLS and smtps) at once; open ones keep theirs.
  const certificateWatch =
    tlsFiles && tls
      ? watchTlsMaterial({
          files: tlsFiles,
          current: tls,
          onReload(material) {
            for (const server of servers)
              server.updateSecureContext({ key: material.key, cert: material.cert });
            showCertificate(metrics, tlsFiles, material);
            metrics.tlsReloads.inc();
            log.info(
              {
                cert: tlsFiles.cert,
                notAfter: material.notAfter.toISOString(),
                sha256: material.fingerprint256,
              },
              "TLS certificate reloaded",
            );
          },
          onFailure(error) {
            metrics.tlsReloadFailures.inc();
            log.warn(
              { file: error.file, problem: error.message },
              "TLS certificate renewal refused; the old certificate stays",
            );
          },
        })
      : undefined;

  const connectionsOf = (server: SMTPServer) => server.connections as unknown as Set<Connection>;

  // Deadlines the idle timer cannot give: a whole-session cap, and a minimum
  // DATA rate (one byte every 55 s never trips an idle timer).
  const watchdog = setInterval(() => {
    const at = now();
    for (const server of servers) {
      for (const connection of connectionsOf(server)) {
        const state = sessions.get(connection.session.id);
        if (!state) continue;
        let problem: RelayError | undefined;
        if (at - state.startedAt > config.intake.sessionTimeoutSeconds * 1000) {
          problem = new RelayError("session_too_long", "Session time limit reached, closing connection");
        } else if (state.dataStartedAt !== undefined && config.intake.minDataRate > 0) {
          const elapsed = at - state.dataStartedAt;
          if (
            elapsed > config.intake.dataRateGraceSeconds * 1000 &&
            state.dataBytes / (elapsed / 1000) < config.intake.minDataRate
          ) {
            problem = new RelayError("slow_client", "Data rate too low, closing connection");
          }
        }
        if (problem) {
          metrics.rejections.inc({ reason: problem.code });
          log.info({ ip: state.ip, reason: problem.code }, "closing SMTP session");
          void state.writer?.abort();
          connection.send(problem.responseCode, problem.message);
          connection.close();
        }
      }
    }
  }, 1000);
  watchdog.unref();

  const closeIdle = () => {
    for (const server of servers) {
      for (const connection of connectionsOf(server)) {
        const state = sessions.get(connection.session.id);
        if (state?.dataStartedAt === undefined) {
          connection.send(421, `4.3.2 ${config.hostname} is shutting down, try later`);
          connection.close();
        }
      }
    }
  };

  return {
    addresses,
    get draining() {
      return draining;
    },
    get activeConnections() {
      return sessions.size;
    },
    async drain() {
      draining = true;
      closeIdle();
      while ([...sessions.values()].some((s) => s.dataStartedAt !== undefined)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      closeIdle();
    },
    async close() {
      clearInterval(watchdog);
      certificateWatch?.close();
      draining = true;
      await Promise.all(
        servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
}
