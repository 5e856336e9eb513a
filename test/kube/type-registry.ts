/** Which resources are served right now: the built-ins plus whatever established CRDs add. */
import { builtinTypes } from "./builtins.js";
import { apiVersionOf, type ResourceType } from "./resource-types.js";

export class TypeRegistry {
  private readonly builtins: ResourceType[] = builtinTypes();
  /** CRD name → the versions it serves. */
  private readonly custom = new Map<string, ResourceType[]>();
  private changeCounter = 0;

  all(): ResourceType[] {
    return [...this.builtins, ...[...this.custom.values()].flat()];
  }

  /** Bumped on every CRD change, so discovery and OpenAPI documents can be cached by it. */
  generation(): number {
    return this.changeCounter;
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.all().find(
      (type) => type.group === group && type.version === version && type.plural === plural,
    );
  }

  findByKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all().find((type) => apiVersionOf(type) === apiVersion && type.kind === kind);
  }

  /** Every served version of the resource `type` belongs to. */
  versionsOf(type: ResourceType): ResourceType[] {
    return this.all().filter((other) => other.group === type.group && other.plural === type.plural);
  }

  setCustom(crdName: string, types: ResourceType[]): void {
    if (types.length === 0) this.custom.delete(crdName);
    else this.custom.set(crdName, types);
    this.changeCounter += 1;
  }

  /** Groups in discovery order: core first, then built-in groups, then custom ones. */
  groups(): { name: string; versions: string[]; preferred: string }[] {
    const order: string[] = [];
    const versions = new Map<string, string[]>();
    for (const type of this.all()) {
      if (type.group === "") continue;
      if (!versions.has(type.group)) {
        order.push(type.group);
        versions.set(type.group, []);
      }
      const list = versions.get(type.group) ?? [];
      if (!list.includes(type.version)) list.push(type.version);
    }
    return order.map((name) => {
      const list = versions.get(name) ?? [];
      const preferred = this.preferredVersion(list);
      return { name, versions: [preferred, ...list.filter((version) => version !== preferred)], preferred };
    });
  }

  /** The group's preferred version, by Kubernetes version priority, as for CRD groups. */
  private preferredVersion(versions: string[]): string {
    return [...versions].sort(compareKubeVersions)[0] ?? "v1";
  }
}

/** Kubernetes version priority: GA before beta before alpha, higher numbers first (v2 > v1 > v1beta2). */
export function compareKubeVersions(a: string, b: string): number {
  const rank = (version: string): [number, number, number] => {
    const match = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(version);
    if (!match) return [3, 0, 0];
    const stability = match[2] === "alpha" ? 2 : match[2] === "beta" ? 1 : 0;
    return [stability, -Number(match[1]), -Number(match[3] ?? 0)];
  };
  const [x, y] = [rank(a), rank(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return a.localeCompare(b);
}
