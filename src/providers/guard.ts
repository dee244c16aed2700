// The rules every provider applies before it asks a cloud to scale: never
// past maxSize, never below minSize, never on a group an autoscaler owns, and
// no call at all when the group is already at the requested size.

import { ProviderError } from "./errors.ts";
import type { NodeGroup, ScaleOperation } from "./types.ts";

/** Ids of operations that needed no call: the group was already at the size. */
export const NOOP_PREFIX = "noop:";

/**
 * Throws the typed error that forbids the scale, or returns an operation when
 * nothing needs asking (already at size); undefined means: ask the cloud.
 */
export function guardScale(cluster: string, group: NodeGroup, desiredSize: number): ScaleOperation | undefined {
  const where = `${cluster}/${group.name}`;
  if (!Number.isInteger(desiredSize) || desiredSize < 0) {
    throw new ProviderError("Invalid", `${where}: desiredSize must be a whole number >= 0, got ${desiredSize}`);
  }
  if (group.autoscalerOwned) {
    throw new ProviderError(
      "AutoscalerOwned",
      `${where}: an autoscaler owns this group's size; the operator does not set it (let the autoscaler react to pending pods, or remove its ownership)`,
    );
  }
  if (desiredSize > group.maxSize) {
    throw new ProviderError(
      "ExceedsMaxSize",
      `${where}: desiredSize ${desiredSize} is above maxSize ${group.maxSize}; raise the group's maxSize or place elsewhere`,
    );
  }
  if (desiredSize < group.minSize) {
    throw new ProviderError("Invalid", `${where}: desiredSize ${desiredSize} is below minSize ${group.minSize}`);
  }
  if (desiredSize !== group.desiredSize) return undefined;
  return {
    id: `${NOOP_PREFIX}${group.name}@${desiredSize}`,
    nodeGroup: group.name,
    desiredSize,
    status: group.status === "Updating" ? "InProgress" : "Succeeded",
  };
}

/** The state of a no-op operation, from the group as it is now. */
export function noopStatus(op: ScaleOperation, group: NodeGroup): ScaleOperation {
  if (group.desiredSize !== op.desiredSize) {
    return { ...op, status: "Failed", message: `the group's desired size changed to ${group.desiredSize}` };
  }
  return { ...op, status: group.status === "Updating" ? "InProgress" : "Succeeded" };
}
