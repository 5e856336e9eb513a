/**
 * Bearer-token authentication as kube-apiserver does it with anonymous auth
 * off: the kubeconfig's static token is a cluster admin (group
 * system:masters), and the TokenRequest subresource issues ServiceAccount
 * tokens that name system:serviceaccount:NS:NAME. A token stops working when
 * it expires or when its ServiceAccount is deleted (a bound token names the
 * account's uid), as real bound tokens do.
 */
import { randomBytes } from "node:crypto";

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  /** Set for ServiceAccount users. */
  serviceAccount?: { namespace: string; name: string; uid: string };
}

/** The kubeconfig's token; the user it names is in system:masters, which RBAC never restricts. */
export const ADMIN_TOKEN = "relayfleet-test-token";
export const ADMIN_USER: UserInfo = {
  name: "relayfleet-test-admin",
  groups: ["system:masters", "system:authenticated"],
};

export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
/** TokenRequest's defaults and floor (ExpirationSeconds must be at least 10 minutes). */
export const DEFAULT_TOKEN_SECONDS = 3600;
export const MIN_TOKEN_SECONDS = 600;

export function serviceAccountUser(namespace: string, name: string, uid: string): UserInfo {
  return {
    name: `system:serviceaccount:${namespace}:${name}`,
    uid,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
    serviceAccount: { namespace, name, uid },
  };
}

interface IssuedToken {
  user: UserInfo;
  expiresAtMs: number;
}

export interface IssuedTokenResult {
  token: string;
  expirationTimestamp: string;
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

/** "Bearer xyz" → "xyz"; undefined for anything else (Basic auth, no header). */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}

export class TokenAuthenticator {
  private readonly tokens = new Map<string, IssuedToken>([
    [ADMIN_TOKEN, { user: ADMIN_USER, expiresAtMs: Number.POSITIVE_INFINITY }],
  ]);

  /**
   * @param serviceAccountUid the current uid of a ServiceAccount, undefined when it does not exist:
   *   a token outlives neither its account nor a re-created account of the same name.
   */
  constructor(
    private readonly serviceAccountUid: (namespace: string, name: string) => string | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * A JWT shaped like the ones kube-apiserver signs (clients may decode it); only this server's
   * table makes it valid, so the random signature is never checked.
   */
  issue(
    namespace: string,
    name: string,
    uid: string,
    expirationSeconds: number,
    audiences: string[],
  ): IssuedTokenResult {
    const now = this.clock();
    const expiresAtMs = now + expirationSeconds * 1000;
    const header = base64url(JSON.stringify({ alg: "RS256", kid: "relayfleet-test" }));
    const payload = base64url(
      JSON.stringify({
        aud: audiences,
        exp: Math.floor(expiresAtMs / 1000),
        iat: Math.floor(now / 1000),
        iss: SERVICE_ACCOUNT_ISSUER,
        jti: randomBytes(16).toString("hex"),
        "kubernetes.io": { namespace, serviceaccount: { name, uid } },
        nbf: Math.floor(now / 1000),
        sub: `system:serviceaccount:${namespace}:${name}`,
      }),
    );
    const token = `${header}.${payload}.${base64url(randomBytes(64))}`;
    this.tokens.set(token, { user: serviceAccountUser(namespace, name, uid), expiresAtMs });
    return { token, expirationTimestamp: `${new Date(expiresAtMs).toISOString().slice(0, 19)}Z` };
  }

  /** The user behind an Authorization header; undefined means 401. */
  authenticate(authorization: string | undefined): UserInfo | undefined {
    const token = bearerToken(authorization);
    const issued = token === undefined ? undefined : this.tokens.get(token);
    if (!issued) return undefined;
    if (this.clock() >= issued.expiresAtMs) return undefined;
    const account = issued.user.serviceAccount;
    if (account && this.serviceAccountUid(account.namespace, account.name) !== account.uid) return undefined;
    return issued.user;
  }
}
