/** The built-in kinds the project uses, with the names, scopes and columns kube-apiserver gives them. */
import { builtinModelSchema } from "./builtin-schemas.js";
import { isObject, type JsonObject, numberAt, stringAt } from "./json.js";
import { ALL_VERBS, type PrinterColumn, type ResourceType } from "./resource-types.js";

interface BuiltinSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  model: string;
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  status?: boolean;
  scale?: boolean;
  columns?: PrinterColumn[];
  /** Verbs other than the full set: review kinds only take create. */
  verbs?: string[];
  subresources?: ResourceType["extraSubresources"];
}

const AGE: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

function computed(name: string, compute: (object: JsonObject) => string | number): PrinterColumn {
  return { name, type: "string", jsonPath: "", compute };
}

function countOf(object: JsonObject, key: string): number {
  const value = object[key];
  return isObject(value) ? Object.keys(value).length : 0;
}

function readyOf(object: JsonObject): string {
  return `${numberAt(object, "status", "readyReplicas") ?? 0}/${numberAt(object, "spec", "replicas") ?? 0}`;
}

const SPECS: BuiltinSpec[] = [
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    model: "V1Namespace",
    namespaced: false,
    shortNames: ["ns"],
    status: true,
    columns: [computed("Status", (o) => stringAt(o, "status", "phase") ?? ""), AGE],
  },
  {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    model: "V1ConfigMap",
    shortNames: ["cm"],
    columns: [computed("Data", (o) => countOf(o, "data") + countOf(o, "binaryData")), AGE],
  },
  {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    model: "V1Secret",
    columns: [
      computed("Type", (o) => stringAt(o, "type") ?? ""),
      computed("Data", (o) => countOf(o, "data")),
      AGE,
    ],
  },
  {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    model: "V1Service",
    shortNames: ["svc"],
    categories: ["all"],
    status: true,
    columns: [
      computed("Type", (o) => stringAt(o, "spec", "type") ?? ""),
      computed("Cluster-IP", (o) => stringAt(o, "spec", "clusterIP") ?? "<none>"),
      AGE,
    ],
  },
  {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    model: "V1ServiceAccount",
    shortNames: ["sa"],
    columns: [AGE],
    // TokenRequest, what `kubectl create token` calls (server.ts answers it).
    subresources: [
      {
        name: "token",
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenRequest",
        verbs: ["create"],
      },
    ],
  },
  {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    model: "V1Pod",
    shortNames: ["po"],
    categories: ["all"],
    status: true,
    columns: [
      computed("Status", (o) => stringAt(o, "status", "phase") ?? ""),
      computed("IP", (o) => stringAt(o, "status", "podIP") ?? "<none>"),
      AGE,
    ],
  },
  { group: "", version: "v1", kind: "Event", plural: "events", model: "CoreV1Event", shortNames: ["ev"] },
  {
    group: "",
    version: "v1",
    kind: "Endpoints",
    plural: "endpoints",
    model: "V1Endpoints",
    shortNames: ["ep"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    model: "V1Deployment",
    shortNames: ["deploy"],
    categories: ["all"],
    status: true,
    scale: true,
    columns: [
      computed("Ready", readyOf),
      computed("Up-to-date", (o) => numberAt(o, "status", "updatedReplicas") ?? 0),
      computed("Available", (o) => numberAt(o, "status", "availableReplicas") ?? 0),
      AGE,
    ],
  },
  {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    model: "V1StatefulSet",
    shortNames: ["sts"],
    categories: ["all"],
    status: true,
    scale: true,
    columns: [computed("Ready", readyOf), AGE],
  },
  {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    model: "V1EndpointSlice",
  },
  {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    model: "V1PodDisruptionBudget",
    shortNames: ["pdb"],
    status: true,
  },
  {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    model: "V2HorizontalPodAutoscaler",
    shortNames: ["hpa"],
    categories: ["all"],
    status: true,
  },
  { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", model: "V1Lease" },
  {
    group: "networking.k8s.io",
    version: "v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    model: "V1NetworkPolicy",
    shortNames: ["netpol"],
  },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", model: "V1Role" },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    model: "V1RoleBinding",
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    model: "V1ClusterRole",
    namespaced: false,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    model: "V1ClusterRoleBinding",
    namespaced: false,
  },
  {
    // `kubectl auth whoami`; answered by server.ts, never stored.
    group: "authentication.k8s.io",
    version: "v1",
    kind: "SelfSubjectReview",
    plural: "selfsubjectreviews",
    model: "V1SelfSubjectReview",
    namespaced: false,
    verbs: ["create"],
  },
  {
    // `kubectl auth can-i`; answered by server.ts, never stored.
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SelfSubjectAccessReview",
    plural: "selfsubjectaccessreviews",
    model: "V1SelfSubjectAccessReview",
    namespaced: false,
    verbs: ["create"],
  },
  {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    model: "V1CustomResourceDefinition",
    namespaced: false,
    shortNames: ["crd", "crds"],
    categories: ["api-extensions"],
    status: true,
    columns: [computed("Created At", (o) => stringAt(o, "metadata", "creationTimestamp") ?? "")],
  },
];

export function builtinTypes(): ResourceType[] {
  return SPECS.map((spec) => ({
    group: spec.group,
    version: spec.version,
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    plural: spec.plural,
    singular: spec.kind.toLowerCase(),
    namespaced: spec.namespaced ?? true,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    verbs: spec.verbs ?? ALL_VERBS,
    ...(spec.subresources ? { extraSubresources: spec.subresources } : {}),
    statusSubresource: spec.status ?? false,
    ...(spec.scale
      ? {
          scale: {
            specReplicasPath: ".spec.replicas",
            statusReplicasPath: ".status.replicas",
            labelSelectorPath: ".spec.selector",
          },
        }
      : {}),
    printerColumns: spec.columns ?? [AGE],
    schema: builtinModelSchema(spec.model),
    modelName: spec.model,
    storageVersion: spec.version,
    builtin: true,
  }));
}
