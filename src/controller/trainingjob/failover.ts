// The move: when a trigger fires (failover-trigger.ts), the job gets a
// failover record and phase FailingOver; the old epoch is fenced where its
// cluster answers (and must be gone first for CapacityLost and Drained); a
// new placement is decided without what was lost, with epoch + 1; a drain
// waits for a fresh step in the target's store; the new epoch is launched
// from the newest step the fence allows; the record is completed when the new
// epoch is Running. Every step is written to status before the next one, so a
// restarted operator carries on where the last one stopped.

import type { ComputeCluster } from "../../api/computecluster.ts";
import { CONDITION, FAILED, FAILED_OVER, FAILOVER_EVENT, RUNNING } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { ExcludedGroup } from "../../placement/index.ts";
import { failpoint } from "../../runtime/failpoints.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import type { PassContext } from "./context.ts";
import {
  clusterAnswers,
  clusterLostTrigger,
  type FailoverRecord,
  failoverTimeouts,
  lineageOf,
  lostWorkSeconds,
  splitWhere,
  type Trigger,
} from "./failover-trigger.ts";
import { removeEpoch } from "./fence.ts";
import { launch } from "./launch.ts";
import { place } from "./placing.ts";
import { syncCheckpoints } from "./replication.ts";
import { finish } from "./report.ts";
import type { StatusBuilder } from "./status.ts";

const POLL_MS = 2_000;

/** A trigger that fired or is pending, on a placed job: start the move, or say what is awaited. */
export function onTrigger(job: TrainingJob, b: StatusBuilder, t: Exclude<Trigger, { kind: "None" }>): ReconcileResult {
  if (t.kind === "Waiting") {
    b.condition({ type: CONDITION.Running, status: "Unknown", reason: RUNNING[t.reason], message: t.message });
    return Result.requeueAfter(Math.max(1_000, Math.min(t.leftMs, 10_000)));
  }
  const where = `${b.status.placement?.cluster}/${b.status.placement?.nodeGroup}`;
  if (!job.spec.failover.enabled) {
    const message = `${t.message}; failover is off (spec.failover.enabled: false), so the job stays on ${where}`;
    const before = b.status.conditions?.find((c) => c.type === CONDITION.FailedOver)?.reason;
    // A drained cluster still runs the job; a lost cluster or lost capacity does not.
    if (t.reason !== "Drained") {
      b.condition({ type: CONDITION.Running, status: "False", reason: RUNNING[t.reason], message });
    }
    b.condition({ type: CONDITION.FailedOver, status: "False", reason: FAILED_OVER.FailoverDisabled, message });
    if (before !== FAILED_OVER.FailoverDisabled) b.event({ type: "Warning", reason: FAILOVER_EVENT.Disabled, message });
    return Result.requeueAfter(15_000);
  }
  const moves = b.status.failovers ?? [];
  const max = job.spec.failover.maxFailovers;
  if (moves.length >= max) {
    const history = moves.map((m) => `epoch ${m.epoch}: ${m.from} to ${m.to ?? "?"} (${m.reason})`).join("; ");
    const message = `${t.message}; the job already moved ${moves.length} time(s), spec.failover.maxFailovers is ${max}${history ? `: ${history}` : ""}`;
    finish(b, "Failed", FAILED.FailoverLimitReached, message);
    return Result.done();
  }
  const record: FailoverRecord = {
    epoch: (b.status.epoch ?? 1) + 1,
    from: where,
    reason: t.reason,
    at: t.at.toISOString(),
    ...(b.status.checkpoint?.latestStep !== undefined ? { newestStepAtStart: b.status.checkpoint.latestStep } : {}),
  };
  b.status.failovers = [...moves, record].slice(-128);
  // The old epoch's pods no longer count as the job's, whatever its cluster last said.
  b.status.replicas = { desired: job.spec.replicas, running: 0, succeeded: 0, failed: 0 };
  b.status.readyReplicas = `0/${job.spec.replicas}`;
  b.setPhase("FailingOver");
  b.condition({ type: CONDITION.Running, status: "False", reason: RUNNING.FailingOver, message: t.message });
  b.condition({ type: CONDITION.FailedOver, status: "False", reason: FAILED_OVER.FailingOver, message: t.message });
  b.event({
    type: "Warning",
    reason: FAILOVER_EVENT.Started,
    message: `epoch ${record.epoch}: moving off ${where}: ${t.message}`,
  });
  return Result.requeueAfter(100);
}

/** The move's steps up to the launch of the new epoch. */
export async function continueMove(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  move: FailoverRecord,
): Promise<ReconcileResult> {
  if (!move.to) return findTarget(ctx, job, b, move);
  const target = b.status.placement?.cluster ?? "";
  const cc = ctx.o.clusters.get(undefined, target);
  const worker = ctx.o.registry.get(target);
  if (!cc || !worker || !clusterAnswers(cc))
    return waitMove(b, `waiting for ${target} to answer before launching there`);
  if (move.reason === "Drained" && !(await drainStepArrived(ctx, job, b, move, target))) {
    return Result.requeueAfter(POLL_MS);
  }
  const launched = await launch(ctx, job, b, worker, cc, {
    activeEpoch: (move.epoch ?? 1) - 1,
    lineage: lineageOf(b.status),
  });
  failpoint("failover.after-launch");
  move.launchedAt = b.now.toISOString();
  if (launched.resume) move.resumedFromStep = launched.resume.step;
  move.lostWorkSeconds = lostWorkSeconds(new Date(move.at ?? b.now), launched.resume?.createdAt, b.status.startTime);
  ctx.o.failoverMetrics?.moved(move.reason ?? "", splitWhere(move.from).cluster, target);
  b.setPhase("FailingOver");
  const from = launched.resume
    ? `resuming from step ${launched.resume.step}`
    : "starting from scratch: no step was replicated to its store";
  b.condition({
    type: CONDITION.FailedOver,
    status: "False",
    reason: FAILED_OVER.FailingOver,
    message: `epoch ${move.epoch} launched on ${move.to}, ${from}`,
  });
  return Result.requeueAfter(1_000);
}

/** Fences the old epoch where its cluster answers (it must be gone first unless the cluster is lost), then places. */
async function findTarget(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  move: FailoverRecord,
): Promise<ReconcileResult> {
  const from = splitWhere(move.from);
  const fromCc = ctx.o.clusters.get(undefined, from.cluster);
  const fromWorker = ctx.o.registry.get(from.cluster);
  const answers = fromCc !== undefined && clusterAnswers(fromCc);
  if (fromCc && fromWorker && answers) {
    if ((await removeEpoch(fromWorker, job, b, (move.epoch ?? 1) - 1)) !== undefined) {
      const grace = job.spec.template.spec?.terminationGracePeriodSeconds;
      return waitMove(
        b,
        `waiting for epoch ${(move.epoch ?? 1) - 1}'s pods on ${from.cluster} to stop${grace ? ` (they have ${grace}s to save a step)` : ""}`,
      );
    }
  } else if (move.reason !== "ClusterLost" && fromCc) {
    // The old pods cannot be confirmed gone: launch elsewhere only once the cluster counts as lost.
    const lost = clusterLostTrigger(fromCc, b.now, failoverTimeouts(job).clusterLost);
    if (lost.kind !== "Move")
      return waitMove(b, `waiting for ${from.cluster} to answer, to confirm epoch ${(move.epoch ?? 1) - 1} stopped`);
  }
  failpoint("failover.before-place");
  return place(ctx, job, b, {
    exclude: leftOut(move, fromCc, answers, b.now, failoverTimeouts(job).unschedulable),
    onPlaced: (placed) => {
      move.to = `${placed.status.placement?.cluster}/${placed.status.placement?.nodeGroup}`;
      placed.setPhase("FailingOver");
      placed.condition({
        type: CONDITION.FailedOver,
        status: "False",
        reason: FAILED_OVER.FailingOver,
        message: `epoch ${move.epoch}: moving from ${move.from} to ${move.to} (${move.reason})`,
      });
    },
  });
}

/**
 * What placement leaves out for this move: the lost cluster while it does not answer; the lost group
 * for one more unschedulableTimeout after the move began (its status may still show the nodes that
 * went), after which capacity that came back there is taken again.
 */
export function leftOut(
  move: FailoverRecord,
  fromCc: ComputeCluster | undefined,
  answers: boolean,
  now: Date,
  unschedulableMs: number,
): ExcludedGroup[] {
  const from = splitWhere(move.from);
  if (move.reason === "CapacityLost") {
    return now.getTime() < Date.parse(move.at ?? "") + 2 * unschedulableMs ? [from] : [];
  }
  if (move.reason === "ClusterLost" && !answers) {
    return (fromCc?.status?.nodeGroups ?? []).map((g) => ({ cluster: from.cluster, nodeGroup: g.name ?? "" }));
  }
  return []; // a draining cluster takes no placements anyway
}

/**
 * A drain waits (up to drainCheckpointTimeout from its start) for a step newer than the newest one
 * known when it began, copied from the old store to the target's; true once it is there or time is up.
 */
async function drainStepArrived(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  move: FailoverRecord,
  target: string,
): Promise<boolean> {
  const fromCc = ctx.o.clusters.get(undefined, splitWhere(move.from).cluster);
  if (fromCc)
    await syncCheckpoints(ctx, job, b, { cluster: fromCc, epoch: (move.epoch ?? 1) - 1, lineage: lineageOf(b.status) });
  const there = b.status.checkpoint?.stores?.find((s) => s.cluster === target)?.latestStep;
  const known = move.newestStepAtStart;
  if (there !== undefined && (known === undefined || there > known)) return true;
  const timeout = failoverTimeouts(job).drain;
  const left = Date.parse(move.at ?? "") + timeout - b.now.getTime();
  if (left <= 0) {
    b.event({
      type: "Warning",
      reason: "DrainCheckpointTimeout",
      message: `no step newer than ${known ?? "none"} reached ${target}'s store within drainCheckpointTimeout (${timeout / 1000}s); launching from what is there`,
    });
    return true;
  }
  waitMove(
    b,
    `draining: waiting up to ${Math.ceil(left / 1000)}s for a step newer than ${known ?? "none"} in ${target}'s store (it has ${there ?? "none"})`,
  );
  return false;
}

function waitMove(b: StatusBuilder, message: string): ReconcileResult {
  b.setPhase("FailingOver");
  b.condition({ type: CONDITION.FailedOver, status: "False", reason: FAILED_OVER.FailingOver, message });
  return Result.requeueAfter(POLL_MS);
}

/** After the observe phase: a launched move is FailingOver until the new epoch runs, then recorded as done. */
export function trackMove(ctx: PassContext, b: StatusBuilder, move: FailoverRecord): void {
  if (b.phase !== "Running") {
    if (b.phase === "Starting") b.setPhase("FailingOver");
    return;
  }
  move.runningAt = b.now.toISOString();
  const at = Date.parse(move.at ?? "");
  const lost = move.lostWorkSeconds ?? 0;
  const resumed =
    move.resumedFromStep !== undefined ? `resumed from step ${move.resumedFromStep}` : "started from scratch";
  const message = `epoch ${move.epoch} is running on ${move.to} after ${move.reason} on ${move.from}: ${resumed}, ${lost}s of training lost`;
  b.condition({ type: CONDITION.FailedOver, status: "True", reason: FAILED_OVER.FailedOver, message });
  b.event({ type: lost > 0 ? "Warning" : "Normal", reason: FAILOVER_EVENT.Done, message });
  if (Number.isFinite(at)) ctx.o.failoverMetrics?.duration(move.reason ?? "", (b.now.getTime() - at) / 1000);
  ctx.o.failoverMetrics?.lostWork(move.reason ?? "", lost);
}
