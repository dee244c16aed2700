// The placement phase: asks the placer for a decision; when the best option
// fits only after its node group grows, asks the cloud for it and waits in
// phase Scaling (scale.ts); when it fits, records the placement with a new
// epoch. The decision goes to status before anything is launched, so a pass
// that read a stale copy fails its write instead of launching twice.

import { PLACED, RUNNING } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { AcceleratorType } from "../../catalog/instance-types.ts";
import type { ExcludedGroup, PlacementDecision } from "../../placement/index.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import type { PassContext } from "./context.ts";
import { placementDomains } from "./place.ts";
import { reportStarting } from "./report.ts";
import { excludedGroups, nextScaleStep, SCALING_POLL_MS } from "./scale.ts";
import { CONDITION, type StatusBuilder } from "./status.ts";

export interface PlaceOptions {
  /** More groups to leave out for this placement (a move leaves out what it moves away from). */
  readonly exclude?: readonly ExcludedGroup[];
  /** Called once the placement is recorded (epoch and status.placement set). */
  readonly onPlaced?: (b: StatusBuilder) => void;
}

/** Places the job; done once placed, else when to look again. */
export async function place(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  options: PlaceOptions = {},
): Promise<ReconcileResult> {
  ctx.scale.expire(b);
  const exclude = [...excludedGroups(b.status), ...(options.exclude ?? [])];
  const epoch = (b.status.epoch ?? 0) + 1;
  const decision = ctx.placer.decide(job, exclude, epoch, b.now);
  const step = nextScaleStep(decision, b.status.scaleUp);
  const retryMs = ctx.o.placeRetryMs ?? 15_000;
  if (step.kind === "Wait") {
    ctx.scale.wait(b, step.scaleUp, decision);
    return Result.requeueAfter(SCALING_POLL_MS);
  }
  if (step.kind === "Request") {
    const outcome = await ctx.scale.request(job, b, step, decision);
    if (outcome === "Requested" || outcome === "Busy") return Result.requeueAfter(SCALING_POLL_MS);
    return Result.requeueAfter(outcome === "Refused" ? 1_000 : retryMs);
  }
  const winner = decision.winner;
  const unknown = unknownClusters(ctx, job);
  if (step.kind === "NotPlaced" || !winner) {
    const noneExists = unknown.length > 0 && unknown.length === job.spec.placement.clusters?.length;
    const reason = noneExists ? PLACED.ClusterNotFound : decision.outcome;
    const message = noneExists ? noClusterFound(ctx, unknown) : withUnknown(explain(decision), unknown);
    const before = b.status.conditions?.find((c) => c.type === CONDITION.Placed)?.reason;
    b.condition({ type: CONDITION.Placed, status: "False", reason, message });
    b.setPhase("Pending");
    if (before !== reason) b.event({ type: "Warning", reason: "NotPlaced", message });
    return Result.requeueAfter(retryMs);
  }
  if (!ctx.o.catalog.get(winner.instanceType)) {
    throw new Error(`placement chose ${winner.instanceType}, which the catalog does not know`);
  }
  b.status.epoch = epoch;
  b.status.placement = {
    cluster: winner.cluster,
    cloud: winner.cloud,
    accelerator: winner.accelerator as AcceleratorType,
    instanceType: winner.instanceType,
    nodeGroup: winner.nodeGroup,
    capacityType: winner.capacityType,
    ...placementDomains(winner),
    ...(winner.pricePerHour ? { pricePerHour: winner.pricePerHour } : {}),
    reason: explain(decision),
    placedAt: b.now.toISOString(),
  };
  // The new epoch has no pods yet: counts left from an earlier epoch would hide the nodes it is promised.
  const replicas = { desired: job.spec.replicas, running: 0, succeeded: 0, failed: 0 };
  b.status.replicas = replicas;
  b.status.readyReplicas = `0/${job.spec.replicas}`;
  const message = withUnknown(decision.reason, unknown);
  b.condition({ type: CONDITION.Placed, status: "True", reason: PLACED.Placed, message });
  // What the launch that follows would report (it starts now), so that it has nothing new to write.
  b.status.startTime ??= b.now.toISOString();
  reportStarting(b, replicas);
  ctx.scale.placed(b);
  b.event({ type: "Normal", reason: "Placed", message: `epoch ${epoch}: ${explain(decision)}` });
  if (unknown.length > 0) b.event({ type: "Warning", reason: PLACED.ClusterNotFound, message: unknownNote(unknown) });
  options.onPlaced?.(b);
  return Result.done();
}

/**
 * Phase Placing while the last placement's workload is removed (`left`: what is still being deleted):
 * the next epoch is placed once it is gone.
 */
export function waitForOldEpoch(b: StatusBuilder, left: readonly string[]): ReconcileResult {
  const next = (b.status.epoch ?? 0) + 1;
  const message = `waiting for the last placement's workload to be gone before placing epoch ${next}: ${left.join("; ")}`;
  b.setPhase("Placing");
  b.condition({ type: CONDITION.Placed, status: "False", reason: PLACED.PreviousEpochStopping, message });
  b.condition({ type: CONDITION.Running, status: "False", reason: RUNNING.NotPlaced, message });
  return Result.requeueAfter(OLD_EPOCH_POLL_MS);
}

/** How often a job waiting for its last placement's workload to go looks again (its Job's deletion also wakes it). */
const OLD_EPOCH_POLL_MS = 2_000;

/** Entries of spec.placement.clusters that name no ComputeCluster the operator knows. */
function unknownClusters(ctx: PassContext, job: TrainingJob): string[] {
  return (job.spec.placement.clusters ?? []).filter((name) => !ctx.o.clusters.get(undefined, name));
}

/** Placed=False/ClusterNotFound: every entry of spec.placement.clusters names no ComputeCluster. */
function noClusterFound(ctx: PassContext, unknown: readonly string[]): string {
  const known = ctx.o.clusters
    .list()
    .map((cc) => cc.metadata.name)
    .sort();
  return `not placed: spec.placement.clusters names no existing ComputeCluster (${unknown.join(", ")}); the ComputeClusters are: ${known.join(", ") || "none"}. Fix the names in spec.placement.clusters, or create the ComputeCluster: the job is placed once one of them exists`;
}

function unknownNote(unknown: readonly string[]): string {
  return `spec.placement.clusters entries that name no ComputeCluster are ignored: ${unknown.join(", ")}; fix or remove them`;
}

function withUnknown(message: string, unknown: readonly string[]): string {
  return unknown.length > 0 ? `${message}. ${unknownNote(unknown)}` : message;
}

/** The decision and why every other option lost, as one paragraph for status and events. */
export function explain(decision: PlacementDecision): string {
  const others = decision.explanations.length > 0 ? `. Other options: ${decision.explanations.join("; ")}` : "";
  return `${decision.reason}${others}`.slice(0, 4000);
}
