/**
 * Pod Security Standards as the PodSecurity admission plugin checks them,
 * pure: a pod's metadata and spec against "baseline" or "restricted", with
 * the plugin's wording (reason, then details in parentheses). Checks run in
 * the order of their IDs, as the plugin's registry sorts them, and each
 * restricted check replaces the baseline check it overrides. Windows-only
 * checks (hostProcess) and AppArmor/SELinux/sysctl/procMount are covered
 * only where noted; see test/kube/README.md.
 */
import { isObject, type Json, type JsonObject, objectAt, stringAt } from "./json.js";

export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

export const POD_SECURITY_LEVELS: readonly PodSecurityLevel[] = ["privileged", "baseline", "restricted"];

export interface Violation {
  /** The check's ID in the plugin, e.g. "allowPrivilegeEscalation". */
  check: string;
  reason: string;
  detail: string;
}

interface Container {
  name: string;
  securityContext: JsonObject;
  ports: JsonObject[];
}

interface PodView {
  spec: JsonObject;
  podContext: JsonObject;
  containers: Container[];
  volumes: JsonObject[];
}

/** Init containers first, then containers, then ephemeral ones: podspec.VisitContainers' order. */
function viewOf(spec: JsonObject): PodView {
  const containers: Container[] = [];
  for (const key of ["initContainers", "containers", "ephemeralContainers"]) {
    const list = spec[key];
    if (!Array.isArray(list)) continue;
    for (const item of list.filter(isObject)) {
      containers.push({
        name: typeof item.name === "string" ? item.name : "",
        securityContext: objectAt(item, "securityContext") ?? {},
        ports: Array.isArray(item.ports) ? item.ports.filter(isObject) : [],
      });
    }
  }
  const volumes = Array.isArray(spec.volumes) ? spec.volumes.filter(isObject) : [];
  return { spec, podContext: objectAt(spec, "securityContext") ?? {}, containers, volumes };
}

const quoted = (items: string[]) => items.map((item) => JSON.stringify(item)).join(", ");
const plural = (one: string, many: string, count: number) => (count === 1 ? one : many);
const containerWord = (names: string[]) =>
  `${plural("container", "containers", names.length)} ${quoted(names)}`;
const unique = (items: string[]) => [...new Set(items)];

type Check = (pod: PodView) => Omit<Violation, "check"> | undefined;

const BASELINE_CAPABILITIES = new Set([
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
]);

const RESTRICTED_VOLUME_SOURCES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

const stringList = (value: Json | undefined): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];

const hostNamespaces: Check = ({ spec }) => {
  const used = (["hostNetwork", "hostPID", "hostIPC"] as const).filter((key) => spec[key] === true);
  return used.length
    ? { reason: "host namespaces", detail: used.map((key) => `${key}=true`).join(", ") }
    : undefined;
};

const privileged: Check = ({ containers }) => {
  const names = containers.filter((c) => c.securityContext.privileged === true).map((c) => c.name);
  return names.length
    ? { reason: "privileged", detail: `${containerWord(names)} must not set securityContext.privileged=true` }
    : undefined;
};

const capabilitiesBaseline: Check = ({ containers }) => {
  const names: string[] = [];
  const forbidden: string[] = [];
  for (const container of containers) {
    const added = stringList(objectAt(container.securityContext, "capabilities")?.add).filter(
      (cap) => !BASELINE_CAPABILITIES.has(cap),
    );
    if (added.length) {
      names.push(container.name);
      forbidden.push(...added);
    }
  }
  return names.length
    ? {
        reason: "non-default capabilities",
        detail: `${containerWord(names)} must not include ${quoted(unique(forbidden).sort())} in securityContext.capabilities.add`,
      }
    : undefined;
};

const hostPathVolumes: Check = ({ volumes }) => {
  const names = volumes.filter((v) => isObject(v.hostPath)).map((v) => String(v.name ?? ""));
  return names.length
    ? { reason: "hostPath volumes", detail: `${plural("volume", "volumes", names.length)} ${quoted(names)}` }
    : undefined;
};

const hostPorts: Check = ({ containers }) => {
  const names: string[] = [];
  const ports: number[] = [];
  for (const container of containers) {
    const used = container.ports
      .map((port) => port.hostPort)
      .filter((port): port is number => typeof port === "number" && port !== 0);
    if (used.length) {
      names.push(container.name);
      ports.push(...used);
    }
  }
  const list = [...new Set(ports)];
  return names.length
    ? {
        reason: "hostPort",
        detail: `${containerWord(names)} ${plural("uses", "use", names.length)} ${plural("hostPort", "hostPorts", list.length)} ${list.join(", ")}`,
      }
    : undefined;
};

const seccompType = (context: JsonObject) => stringAt(context, "seccompProfile", "type");

const seccompBaseline: Check = ({ podContext, containers }) => {
  const setters: string[] = [];
  if (seccompType(podContext) === "Unconfined") setters.push("pod");
  const names = containers.filter((c) => seccompType(c.securityContext) === "Unconfined").map((c) => c.name);
  if (names.length) setters.push(containerWord(names));
  return setters.length
    ? {
        reason: "seccompProfile",
        detail: `${setters.join(" and ")} must not set securityContext.seccompProfile.type to "Unconfined"`,
      }
    : undefined;
};

const procMount: Check = ({ containers }) => {
  const bad = containers.filter((c) => {
    const mount = c.securityContext.procMount;
    return typeof mount === "string" && mount !== "Default";
  });
  return bad.length
    ? {
        reason: "procMount",
        detail: `${containerWord(bad.map((c) => c.name))} must not set securityContext.procMount to ${quoted(unique(bad.map((c) => String(c.securityContext.procMount))))}`,
      }
    : undefined;
};

const allowPrivilegeEscalation: Check = ({ containers }) => {
  const names = containers
    .filter((c) => c.securityContext.allowPrivilegeEscalation !== false)
    .map((c) => c.name);
  return names.length
    ? {
        reason: "allowPrivilegeEscalation != false",
        detail: `${containerWord(names)} must set securityContext.allowPrivilegeEscalation=false`,
      }
    : undefined;
};

const capabilitiesRestricted: Check = ({ containers }) => {
  const missingDrop: string[] = [];
  const adding: string[] = [];
  const forbidden: string[] = [];
  for (const container of containers) {
    const capabilities = objectAt(container.securityContext, "capabilities") ?? {};
    if (!stringList(capabilities.drop).includes("ALL")) missingDrop.push(container.name);
    const added = stringList(capabilities.add).filter((cap) => cap !== "NET_BIND_SERVICE");
    if (added.length) {
      adding.push(container.name);
      forbidden.push(...added);
    }
  }
  const details: string[] = [];
  if (missingDrop.length)
    details.push(`${containerWord(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length)
    details.push(
      `${containerWord(adding)} must not include ${quoted(unique(forbidden).sort())} in securityContext.capabilities.add`,
    );
  return details.length ? { reason: "unrestricted capabilities", detail: details.join("; ") } : undefined;
};

const restrictedVolumes: Check = ({ volumes }) => {
  const names: string[] = [];
  const types: string[] = [];
  for (const volume of volumes) {
    const sources = Object.keys(volume).filter((key) => key !== "name");
    const bad = sources.filter((key) => !RESTRICTED_VOLUME_SOURCES.has(key));
    if (bad.length) {
      names.push(String(volume.name ?? ""));
      types.push(...bad);
    }
  }
  const list = unique(types);
  return names.length
    ? {
        reason: "restricted volume types",
        detail: `${plural("volume", "volumes", names.length)} ${quoted(names)} ${plural("uses", "use", names.length)} ${plural("restricted volume type", "restricted volume types", list.length)} ${quoted(list)}`,
      }
    : undefined;
};

/**
 * The runAsNonRoot, runAsUser and seccomp checks report explicit bad settings ("pod and container
 * x must not set ...") before, and instead of, missing ones ("pod or container y must set ...").
 */
const runAsNonRoot: Check = ({ podContext, containers }) => {
  const setters: string[] = [];
  if (podContext.runAsNonRoot === false) setters.push("pod");
  const explicit = containers.filter((c) => c.securityContext.runAsNonRoot === false).map((c) => c.name);
  if (explicit.length) setters.push(containerWord(explicit));
  if (setters.length)
    return {
      reason: "runAsNonRoot != true",
      detail: `${setters.join(" and ")} must not set securityContext.runAsNonRoot=false`,
    };
  if (podContext.runAsNonRoot === true) return undefined;
  const unset = containers.filter((c) => c.securityContext.runAsNonRoot === undefined).map((c) => c.name);
  return unset.length
    ? {
        reason: "runAsNonRoot != true",
        detail: `pod or ${containerWord(unset)} must set securityContext.runAsNonRoot=true`,
      }
    : undefined;
};

const runAsUser: Check = ({ podContext, containers }) => {
  const setters: string[] = [];
  if (podContext.runAsUser === 0) setters.push("pod");
  const names = containers.filter((c) => c.securityContext.runAsUser === 0).map((c) => c.name);
  if (names.length) setters.push(containerWord(names));
  return setters.length
    ? { reason: "runAsUser=0", detail: `${setters.join(" and ")} must not set runAsUser=0` }
    : undefined;
};

const seccompRestricted: Check = ({ podContext, containers }) => {
  const allowed = (type: string | undefined) => type === "RuntimeDefault" || type === "Localhost";
  const setters: string[] = [];
  const badValues: string[] = [];
  const podType = seccompType(podContext);
  if (podType !== undefined && !allowed(podType)) {
    setters.push("pod");
    badValues.push(podType);
  }
  const explicit = containers.filter((c) => {
    const type = seccompType(c.securityContext);
    return type !== undefined && !allowed(type);
  });
  if (explicit.length) {
    setters.push(containerWord(explicit.map((c) => c.name)));
    badValues.push(...explicit.map((c) => String(seccompType(c.securityContext))));
  }
  if (setters.length)
    return {
      reason: "seccompProfile",
      detail: `${setters.join(" and ")} must not set securityContext.seccompProfile.type to ${quoted(unique(badValues).sort())}`,
    };
  if (allowed(podType)) return undefined;
  const unset = containers.filter((c) => seccompType(c.securityContext) === undefined).map((c) => c.name);
  return unset.length
    ? {
        reason: "seccompProfile",
        detail: `pod or ${containerWord(unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
      }
    : undefined;
};

/** Check IDs (the plugin's names), and which baseline check a restricted one overrides. */
const BASELINE_CHECKS: Record<string, Check> = {
  capabilities_baseline: capabilitiesBaseline,
  hostNamespaces,
  hostPathVolumes,
  hostPorts,
  privileged,
  procMount,
  seccompProfile_baseline: seccompBaseline,
};

const RESTRICTED_CHECKS: Record<string, Check> = {
  allowPrivilegeEscalation,
  capabilities_restricted: capabilitiesRestricted,
  restrictedVolumes,
  runAsNonRoot,
  runAsUser,
  seccompProfile_restricted: seccompRestricted,
};

const OVERRIDDEN_BY_RESTRICTED = new Set(["capabilities_baseline", "seccompProfile_baseline"]);

/** Every way `spec` (a PodSpec) breaks `level`; empty when it meets it. */
export function podSecurityViolations(level: PodSecurityLevel, spec: JsonObject): Violation[] {
  if (level === "privileged") return [];
  const checks: Record<string, Check> = { ...BASELINE_CHECKS };
  if (level === "restricted") {
    for (const id of OVERRIDDEN_BY_RESTRICTED) delete checks[id];
    Object.assign(checks, RESTRICTED_CHECKS);
  }
  const pod = viewOf(spec);
  const violations: Violation[] = [];
  for (const id of Object.keys(checks).sort()) {
    const found = checks[id]?.(pod);
    if (found) violations.push({ check: id, ...found });
  }
  return violations;
}

/** The part after `violates PodSecurity "restricted:latest": `, as the plugin joins results. */
export function describeViolations(violations: Violation[]): string {
  return violations.map((violation) => `${violation.reason} (${violation.detail})`).join(", ");
}

/** A namespace's policy from its pod-security.kubernetes.io labels; unlabelled modes are privileged. */
export interface NamespacePolicy {
  enforce: { level: PodSecurityLevel; version: string };
  warn: { level: PodSecurityLevel; version: string };
  audit: { level: PodSecurityLevel; version: string };
}

const LABEL_PREFIX = "pod-security.kubernetes.io/";

export function namespacePolicy(labels: Record<string, string>): NamespacePolicy {
  const mode = (name: "enforce" | "warn" | "audit") => {
    const level = labels[`${LABEL_PREFIX}${name}`];
    return {
      level: POD_SECURITY_LEVELS.includes(level as PodSecurityLevel)
        ? (level as PodSecurityLevel)
        : "privileged",
      version: labels[`${LABEL_PREFIX}${name}-version`] || "latest",
    };
  };
  return { enforce: mode("enforce"), warn: mode("warn"), audit: mode("audit") };
}

/** Kinds whose pod template the plugin checks (warnings only: their pods are checked when created). */
export const POD_TEMPLATE_PATHS: Record<string, string[]> = {
  "apps/Deployment": ["spec", "template"],
  "apps/StatefulSet": ["spec", "template"],
  "apps/DaemonSet": ["spec", "template"],
  "apps/ReplicaSet": ["spec", "template"],
  "/ReplicationController": ["spec", "template"],
  "/PodTemplate": ["template"],
  "batch/Job": ["spec", "template"],
  "batch/CronJob": ["spec", "jobTemplate", "spec", "template"],
};

export interface PodSecurityDecision {
  /** Set when the pod must be refused: the message after `pods "x" is forbidden: `. */
  refusal?: string;
  warnings: string[];
}

/**
 * The admission decision for a Pod (`isPod`) or a workload's pod template spec in a namespace with
 * `policy`. Pods are refused on the enforce level and warned on the warn level; workloads are only
 * warned, on either level (once when both levels agree).
 */
export function podSecurityDecision(
  policy: NamespacePolicy,
  spec: JsonObject,
  isPod: boolean,
): PodSecurityDecision {
  const warnings: string[] = [];
  const label = (mode: { level: PodSecurityLevel; version: string }) => `"${mode.level}:${mode.version}"`;
  const enforced = podSecurityViolations(policy.enforce.level, spec);
  let refusal: string | undefined;
  if (enforced.length) {
    if (isPod) refusal = `violates PodSecurity ${label(policy.enforce)}: ${describeViolations(enforced)}`;
    else warnings.push(`would violate PodSecurity ${label(policy.enforce)}: ${describeViolations(enforced)}`);
  }
  const sameAsEnforce =
    policy.warn.level === policy.enforce.level && policy.warn.version === policy.enforce.version;
  if (!sameAsEnforce || isPod) {
    const warned = podSecurityViolations(policy.warn.level, spec);
    // A refused pod is not also warned about its enforce-level violations.
    if (warned.length && !(refusal && sameAsEnforce))
      warnings.push(`would violate PodSecurity ${label(policy.warn)}: ${describeViolations(warned)}`);
  }
  return { ...(refusal ? { refusal } : {}), warnings };
}

/** The PodSpec a Pod or a workload object carries, or undefined for other kinds. */
export function podSpecOf(group: string, kind: string, object: JsonObject): JsonObject | undefined {
  if (group === "" && kind === "Pod") return objectAt(object, "spec") ?? {};
  const path = POD_TEMPLATE_PATHS[`${group}/${kind}`];
  return path ? (objectAt(object, ...path, "spec") ?? {}) : undefined;
}
