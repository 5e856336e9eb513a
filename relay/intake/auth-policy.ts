/**
 * When the intake offers and accepts SMTP AUTH (docs/intake.md, "AUTH and TLS").
 *
 * A password sent in the clear on a network is a password given away, so on
 * every listener that is not loopback AUTH waits for TLS (STARTTLS, or an
 * smtps listener where the session is TLS from the first byte). A listener
 * without `tls` therefore offers no AUTH at all; it still relays for accounts'
 * allowedIps. Loopback never leaves the machine: AUTH is offered there at once,
 * unless `intake.plainAuthOnLoopback` is false (what the operator renders).
 * `intake.insecureAuth` is the explicit escape hatch for setups that encrypt
 * some other way (a TLS-terminating balancer in front, a private link).
 */
import { isIP } from "node:net";

export interface ListenerAddress {
  /** The host the listener binds, as configured ("0.0.0.0", "127.0.0.1", "::1", "localhost"). */
  host: string;
}

export interface AuthPolicyConfig {
  insecureAuth: boolean;
  /** Loopback listeners offer AUTH before TLS (default); a fleet relay sets it false. */
  plainAuthOnLoopback?: boolean;
}

/**
 * "offer": AUTH is listed in EHLO and accepted.
 * "tls_first": AUTH is left out of EHLO and answered 530 5.7.0 until the session is TLS.
 */
export type AuthDecision = "offer" | "tls_first";

/** True for a bind address that only this machine can reach: 127.0.0.0/8, ::1 (also v4-mapped), "localhost". */
export function isLoopbackHost(host: string): boolean {
  const bare = host.toLowerCase();
  if (bare === "localhost" || bare === "::1" || bare === "0:0:0:0:0:0:0:1") return true;
  const v4 = bare.startsWith("::ffff:") ? bare.slice("::ffff:".length) : bare;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

export function authPolicy(
  listener: ListenerAddress,
  tlsActive: boolean,
  config: AuthPolicyConfig,
): AuthDecision {
  if (tlsActive || config.insecureAuth) return "offer";
  if ((config.plainAuthOnLoopback ?? true) && isLoopbackHost(listener.host)) return "offer";
  return "tls_first";
}
