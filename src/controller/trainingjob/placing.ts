// The placement phase: asks the placer for a decision; when the best option
// fits only after its node group grows, asks the cloud for it and waits in
// phase Scaling (scale.ts); when it fits, records the placement with a new
// epoch. The decision goes to status before anything is launched, so a pass
// that read a stale copy fails its write instead of launching twice.

import type { TrainingJob } from "../../api/trainingjob.ts";
import type { AcceleratorType } from "../../catalog/instance-types.ts";
import type { ExcludedGroup, PlacementDecision } from "../../placement/index.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import type { PassContext } from "./context.ts";
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
    if (outcome === "Requested") return Result.requeueAfter(SCALING_POLL_MS);
    return Result.requeueAfter(outcome === "Refused" ? 1_000 : retryMs);
  }
  const winner = decision.winner;
  if (step.kind === "NotPlaced" || !winner) {
    const reason = decision.outcome;
    const message = explain(decision);
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
    ...(winner.pricePerHour ? { pricePerHour: winner.pricePerHour } : {}),
    reason: explain(decision),
    placedAt: b.now.toISOString(),
  };
  // The new epoch has no pods yet: counts left from an earlier epoch would hide the nodes it is promised.
  b.status.replicas = { desired: job.spec.replicas, running: 0, succeeded: 0, failed: 0 };
  b.status.readyReplicas = `0/${job.spec.replicas}`;
  b.condition({ type: CONDITION.Placed, status: "True", reason: "Placed", message: decision.reason });
  b.setPhase("Starting");
  ctx.scale.placed(b);
  b.event({ type: "Normal", reason: "Placed", message: `epoch ${epoch}: ${explain(decision)}` });
  options.onPlaced?.(b);
  return Result.done();
}

/** The decision and why every other option lost, as one paragraph for status and events. */
export function explain(decision: PlacementDecision): string {
  const others = decision.explanations.length > 0 ? `. Other options: ${decision.explanations.join("; ")}` : "";
  return `${decision.reason}${others}`.slice(0, 4000);
}
