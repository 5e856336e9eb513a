/** metav1.Condition bookkeeping. Pure. */
import type { Condition } from "../api/schema.js";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/**
 * The conditions after setting `next`: lastTransitionTime moves only when
 * the status changes, so `kubectl get` shows how long a state has held.
 */
export function setConditions(
  existing: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number | undefined,
  now: Date,
): Condition[] {
  const result = [...(existing ?? [])];
  for (const condition of next) {
    const index = result.findIndex((c) => c.type === condition.type);
    const previous = index === -1 ? undefined : result[index];
    const updated: Condition = {
      ...condition,
      message: condition.message.slice(0, 32768),
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime:
        previous && previous.status === condition.status
          ? previous.lastTransitionTime
          : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
    if (index === -1) result.push(updated);
    else result[index] = updated;
  }
  return result;
}
