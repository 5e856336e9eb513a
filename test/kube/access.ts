/**
 * The server's access control, between routing and the handlers: who is
 * asking (authentication.ts), whether RBAC lets them (rbac.ts, against the
 * Roles and bindings stored right now), RBAC escalation prevention on role
 * and binding writes, and the two endpoints that answer about identity
 * rather than store objects: TokenRequest and SelfSubjectAccessReview.
 */
import {
  DEFAULT_TOKEN_SECONDS,
  MIN_TOKEN_SECONDS,
  SERVICE_ACCOUNT_ISSUER,
  TokenAuthenticator,
  type UserInfo,
} from "./authentication.js";
import { ApiError, badRequest, invalid, notFound, unauthorized } from "./errors.js";
import { isObject, type JsonObject, numberAt, objectAt, stringAt } from "./json.js";
import type { ObjectService } from "./objects.js";
import {
  authorize,
  describeRule,
  forbiddenMessage,
  type PolicyRule,
  PRIVILEGED_GROUP,
  type RbacObjects,
  type RequestAttributes,
  rulesOf,
  ungrantedRules,
} from "./rbac.js";
import type { RequestInfo } from "./request-info.js";
import type { ResourceType } from "./resource-types.js";
import { patchTypeOf } from "./resources.js";

const RBAC_GROUP = "rbac.authorization.k8s.io";

/** A write as the server received it. */
export interface Write {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  method: string;
  body: string;
  contentType: string;
}

export class AccessControl {
  readonly authenticator: TokenAuthenticator;

  constructor(private readonly objects: ObjectService) {
    this.authenticator = new TokenAuthenticator((namespace, name) => {
      const type = this.type("", "v1", "serviceaccounts");
      return stringAt(this.objects.find(type, namespace, name), "metadata", "uid");
    });
  }

  private type(group: string, version: string, plural: string): ResourceType {
    const type = this.objects.types.find(group, version, plural);
    if (!type) throw new Error(`${plural} must be a built-in type`);
    return type;
  }

  rbacObjects(): RbacObjects {
    const list = (plural: string) => this.objects.list(this.type(RBAC_GROUP, "v1", plural), undefined);
    return {
      roles: list("roles"),
      clusterRoles: list("clusterroles"),
      roleBindings: list("rolebindings"),
      clusterRoleBindings: list("clusterrolebindings"),
    };
  }

  /** The request's user; throws 401 when the token is missing, unknown or expired. */
  authenticate(authorization: string | undefined): UserInfo {
    const user = this.authenticator.authenticate(authorization);
    if (!user) throw unauthorized();
    return user;
  }

  allowed(user: UserInfo, info: RequestInfo): boolean {
    // The admin's requests (nearly all of them in tests) never need the roles listed.
    if (user.groups.includes(PRIVILEGED_GROUP)) return true;
    return authorize({ ...info, user }, this.rbacObjects());
  }

  /** Throws the 403 kube-apiserver answers when RBAC does not allow the request. */
  authorize(user: UserInfo, info: RequestInfo): void {
    if (this.allowed(user, info)) return;
    const attributes: RequestAttributes = { ...info, user };
    throw new ApiError(
      403,
      "Forbidden",
      forbiddenMessage(attributes),
      info.resourceRequest
        ? { ...(info.name ? { name: info.name } : {}), group: info.apiGroup, kind: info.resource }
        : undefined,
    );
  }

  /**
   * Escalation prevention: a Role or ClusterRole written by someone who does not hold all its
   * rules (and has no `escalate` on it), or a binding to a role whose rules they do not hold (and
   * no `bind` on it), is refused with the apiserver's message.
   */
  checkEscalation(user: UserInfo, info: RequestInfo, written: JsonObject): void {
    if (info.apiGroup !== RBAC_GROUP || user.groups.includes(PRIVILEGED_GROUP)) return;
    const namespace = stringAt(written, "metadata", "namespace") ?? "";
    let rules: PolicyRule[];
    if (info.resource === "roles" || info.resource === "clusterroles") {
      if (this.allowed(user, { ...info, verb: "escalate", subresource: "" })) return;
      rules = rulesOf(written);
    } else if (info.resource === "rolebindings" || info.resource === "clusterrolebindings") {
      const kind = stringAt(written, "roleRef", "kind");
      const roleName = stringAt(written, "roleRef", "name") ?? "";
      const rolePlural = kind === "ClusterRole" ? "clusterroles" : "roles";
      const bindInfo: RequestInfo = {
        ...info,
        verb: "bind",
        resource: rolePlural,
        subresource: "",
        name: roleName,
        namespace: kind === "ClusterRole" ? "" : namespace,
      };
      if (this.allowed(user, bindInfo)) return;
      const role = this.objects.find(
        this.type(RBAC_GROUP, "v1", rolePlural),
        kind === "ClusterRole" ? undefined : namespace,
        roleName,
      );
      rules = role ? rulesOf(role) : [];
    } else return;
    const missing = ungrantedRules(user, namespace, rules, this.rbacObjects());
    if (missing.length === 0) return;
    const name = stringAt(written, "metadata", "name") ?? info.name;
    const groups = user.groups.map((group) => JSON.stringify(group)).join(" ");
    throw new ApiError(
      403,
      "Forbidden",
      `${info.resource}.${RBAC_GROUP} "${name}" is forbidden: user "${user.name}" (groups=[${groups}]) is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join("\n")}`,
      { name, group: RBAC_GROUP, kind: info.resource },
    );
  }

  /** checkEscalation for a write of a role or binding by anyone but an admin; other writes pass. */
  preventEscalation(user: UserInfo, info: RequestInfo, write: Write): void {
    if (write.type.group !== RBAC_GROUP || user.groups.includes(PRIVILEGED_GROUP)) return;
    this.checkEscalation(user, info, this.writtenObject(write));
  }

  /**
   * The role or binding a write would store: the body of a create or replace, the dry-run result
   * of a patch (server-side apply included).
   */
  private writtenObject({ type, namespace, name, method, body, contentType }: Write): JsonObject {
    if (method === "PATCH" && name !== undefined) {
      return this.objects.patch(type, namespace, name, patchTypeOf(contentType, type), body, {
        dryRun: true,
        fieldManager: "escalation-check",
        force: true,
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (error) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
    }
    if (!isObject(parsed)) throw badRequest("the request body must be a JSON object");
    const metadata = isObject(parsed.metadata) ? parsed.metadata : {};
    return { ...parsed, metadata: { ...metadata, ...(namespace ? { namespace } : {}) } };
  }

  /** POST .../serviceaccounts/NAME/token: a bound token for the ServiceAccount. */
  tokenRequest(namespace: string, name: string, body: JsonObject): JsonObject {
    const accounts = this.type("", "v1", "serviceaccounts");
    const account = this.objects.find(accounts, namespace, name);
    if (!account) throw notFound(accounts, name);
    const spec = objectAt(body, "spec") ?? {};
    const seconds = numberAt(spec, "expirationSeconds") ?? DEFAULT_TOKEN_SECONDS;
    const tokenRequestType = { group: "authentication.k8s.io", kind: "TokenRequest" };
    if (!Number.isInteger(seconds) || seconds < MIN_TOKEN_SECONDS) {
      throw invalid(tokenRequestType, name, [
        {
          reason: "FieldValueInvalid",
          field: "spec.expirationSeconds",
          detail: `Invalid value: ${seconds}: may not specify a duration less than 10 minutes`,
        },
      ]);
    }
    const requested = Array.isArray(spec.audiences)
      ? spec.audiences.filter((item): item is string => typeof item === "string")
      : [];
    const audiences = requested.length > 0 ? requested : [SERVICE_ACCOUNT_ISSUER];
    const uid = stringAt(account, "metadata", "uid") ?? "";
    const issued = this.authenticator.issue(namespace, name, uid, seconds, audiences);
    return {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name, namespace, creationTimestamp: this.objects.now() },
      spec: {
        audiences,
        expirationSeconds: seconds,
        boundObjectRef: isObject(spec.boundObjectRef) ? spec.boundObjectRef : null,
      },
      status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp },
    };
  }

  /** A token for tests, without an HTTP round trip (the ServiceAccount must exist). */
  tokenFor(namespace: string, name: string, expirationSeconds = DEFAULT_TOKEN_SECONDS): string {
    const answer = this.tokenRequest(namespace, name, { spec: { expirationSeconds } });
    return String(stringAt(answer, "status", "token"));
  }

  /** POST /apis/authentication.k8s.io/v1/selfsubjectreviews: who am I? */
  selfSubjectReview(user: UserInfo): JsonObject {
    return {
      kind: "SelfSubjectReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: this.objects.now() },
      status: {
        userInfo: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups },
      },
    };
  }

  /** POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: may I? */
  selfSubjectAccessReview(user: UserInfo, body: JsonObject): JsonObject {
    const spec = objectAt(body, "spec") ?? {};
    const resource = objectAt(spec, "resourceAttributes");
    const nonResource = objectAt(spec, "nonResourceAttributes");
    const reviewType = { group: "authorization.k8s.io", kind: "SelfSubjectAccessReview" };
    if ((resource === undefined) === (nonResource === undefined)) {
      throw invalid(reviewType, "", [
        {
          reason: "FieldValueRequired",
          field: "spec.resourceAttributes",
          detail:
            "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        },
      ]);
    }
    const text = (holder: JsonObject | undefined, key: string) => stringAt(holder, key) ?? "";
    const info: RequestInfo = resource
      ? {
          resourceRequest: true,
          path: "",
          verb: text(resource, "verb"),
          apiGroup: text(resource, "group"),
          apiVersion: text(resource, "version"),
          namespace: text(resource, "namespace"),
          resource: text(resource, "resource"),
          subresource: text(resource, "subresource"),
          name: text(resource, "name"),
        }
      : {
          resourceRequest: false,
          path: text(nonResource, "path"),
          verb: text(nonResource, "verb"),
          apiGroup: "",
          apiVersion: "",
          namespace: "",
          resource: "",
          subresource: "",
          name: "",
        };
    const allowed = this.allowed(user, info);
    return {
      kind: "SelfSubjectAccessReview",
      apiVersion: "authorization.k8s.io/v1",
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed },
    };
  }
}
