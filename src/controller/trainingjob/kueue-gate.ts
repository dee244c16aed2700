// The Kueue phase of a pass, for a TrainingJob labelled
// kueue.x-k8s.io/queue-name (src/kueue/workload.ts has the model): the job's
// Workload is created and kept, the job is held until Kueue admits it, placed
// only on the admitted accelerator types, stopped gracefully and its quota
// given back when Kueue evicts it, its quota given back when no cluster could
// take it for KUEUE_UNPLACED_MS after admission, and its Workload marked
// Finished when it finishes. Jobs without the label pass through untouched.

import type { TrainingJob } from "../../api/trainingjob.ts";
import {
  type Admission,
  admissionOf,
  admittedTypes,
  finishedStatus,
  KUEUE_FINALIZER,
  PRIORITY_CLASS_LABEL,
  queueOf,
  REQUEST_HASH_ANNOTATION,
  releasedStatus,
  renderWorkload,
  requestHashOf,
  type Workload,
  workloadNameOf,
} from "../../kueue/workload.ts";
import { isConflict } from "../../runtime/api-errors.ts";
import { type ReconcileResult, Result } from "../../runtime/index.ts";
import type { PassContext } from "./context.ts";
import { currentMove, failoverTimeouts } from "./failover-trigger.ts";
import { CONDITION, type StatusBuilder } from "./status.ts";

/** How long an admitted job may stay without a placement before its quota is given back. */
export const KUEUE_UNPLACED_MS = 120_000;
/** The backoff before Kueue may admit a job again whose placement failed: doubled per release, at most an hour. */
const REQUEUE_BASE_MS = 60_000;
const REQUEUE_MAX_MS = 3_600_000;
/** How often a job held for a hub without Kueue looks again. */
const NO_KUEUE_RETRY_MS = 30_000;

export type KueueGate =
  /** Go on with `job`: the original, or a view whose accelerators are the admitted ones. */
  | { readonly kind: "Run"; readonly job: TrainingJob }
  /** Not admitted: end the pass here. */
  | { readonly kind: "Hold"; readonly result: ReconcileResult }
  /** Evicted while placed: run the placed job suspended (`job`), then give the quota back once its pods are gone. */
  | { readonly kind: "Stop"; readonly job: TrainingJob; readonly workload: Workload; readonly admission: Evicted };

type Evicted = Extract<Admission, { state: "Evicted" }>;

export async function kueueGate(ctx: PassContext, job: TrainingJob, b: StatusBuilder): Promise<KueueGate> {
  const queue = queueOf(job);
  const kueue = ctx.o.kueue;
  if (queue === undefined) {
    // The label was taken off: the job is not queued any more; its Workload (and quota) goes.
    if (b.status.queue) {
      await removeWorkload(ctx, job);
      delete b.status.queue;
      b.status.conditions = b.status.conditions?.filter((c) => c.type !== CONDITION.Admitted);
    }
    return { kind: "Run", job };
  }
  const placed = b.status.placement !== undefined;
  if (!kueue || !(await kueue.ready())) {
    b.condition({
      type: CONDITION.Admitted,
      status: "False",
      reason: "KueueNotInstalled",
      message: `the job is queued on LocalQueue ${queue} (label kueue.x-k8s.io/queue-name) but the hub does not serve kueue.x-k8s.io/v1beta2 Workloads: install Kueue (v0.17 or later) on the hub, or remove the label`,
    });
    return placed ? { kind: "Run", job } : { kind: "Hold", result: Result.requeueAfter(NO_KUEUE_RETRY_MS) };
  }
  const name = workloadNameOf(job);
  b.status.queue = { ...b.status.queue, name: queue, workload: name };
  const wl = kueue.of(job);
  const finished = b.phase === "Succeeded" || b.phase === "Failed";
  if (finished) {
    if (wl && admissionOf(wl).state !== "Finished") {
      const message = `TrainingJob ${b.phase === "Succeeded" ? "succeeded" : "failed"}`;
      await kueue.writeStatus(wl, finishedStatus(wl, b.phase as "Succeeded" | "Failed", message, b.now));
    }
    return { kind: "Run", job };
  }
  if (!wl) {
    if (placed) return { kind: "Stop", ...stopping(job, undefined) };
    await kueue.create(renderWorkload(job, await priorityOf(ctx, job)));
    hold(b, "Pending", `Workload ${name} created on LocalQueue ${queue}; waiting for Kueue`);
    return { kind: "Hold", result: Result.done() };
  }
  if (wl.metadata.deletionTimestamp) {
    // Deleted by someone while the job lives: its finalizer (Kueue's) is the operator's to lift once unused.
    if (!placed && wl.metadata.finalizers?.includes(KUEUE_FINALIZER))
      await kueue.patch(wl, { metadata: { resourceVersion: wl.metadata.resourceVersion, finalizers: others(wl) } });
    hold(b, "Pending", `Workload ${name} is being deleted; a new one is made once it is gone`);
    return placed
      ? { kind: "Stop", ...stopping(job, undefined) }
      : { kind: "Hold", result: Result.requeueAfter(1_000) };
  }
  if (wl.metadata.annotations?.[REQUEST_HASH_ANNOTATION] !== requestHashOf(job) && !placed) {
    // The job asks for something else now (replicas, devices, queue or priority): a new Workload, as Kueue's jobs get.
    await kueue.delete(wl);
    b.event({
      type: "Normal",
      reason: "WorkloadReplaced",
      message: `the job's request changed: Workload ${name} is replaced`,
    });
    return { kind: "Hold", result: Result.requeueAfter(1_000) };
  }
  const a = admissionOf(wl);
  switch (a.state) {
    case "Admitted": {
      b.status.queue = { ...b.status.queue, clusterQueue: a.clusterQueue, flavors: a.flavors };
      const held = b.status.conditions?.find((c) => c.type === CONDITION.Admitted);
      b.condition({
        type: CONDITION.Admitted,
        status: "True",
        reason: "Admitted",
        message: `admitted by ClusterQueue ${a.clusterQueue}${a.flavors.length ? ` with flavor ${a.flavors.join(", ")}` : ""}`,
      });
      if (held?.status !== "True")
        b.event({
          type: "Normal",
          reason: "Admitted",
          message: `Kueue admitted the job (ClusterQueue ${a.clusterQueue})`,
        });
      const unplacedMs = ctx.o.kueueUnplacedMs ?? KUEUE_UNPLACED_MS;
      if (b.now.getTime() - unplacedSince(b, held) >= unplacedMs) return giveBackUnplaced(ctx, b, wl, unplacedMs);
      const types = admittedTypes(job, a.flavors);
      const accelerators = job.spec.accelerators.filter((o) => types.has(o.type));
      return { kind: "Run", job: { ...job, spec: { ...job.spec, accelerators } } };
    }
    case "Evicted":
      if (placed) {
        const message = `evicted by Kueue (${a.reason}: ${a.message}): the pods are stopping`;
        b.condition({ type: CONDITION.Admitted, status: "False", reason: a.reason, message });
        return { kind: "Stop", job: suspendedView(job), workload: wl, admission: a };
      }
      return {
        kind: "Hold",
        result: (await giveBackEvicted(ctx, b, wl, a)) ? Result.done() : Result.requeueAfter(500),
      };
    case "Finished":
      return { kind: "Run", job };
    case "Pending":
      hold(b, a.reason, a.message);
      if (placed) return { kind: "Stop", ...stopping(job, wl) };
      return { kind: "Hold", result: Result.done() };
  }
}

/**
 * An evicted placed job: runs the placed phases on its suspended view, then gives the quota back
 * once it may (afterStop). Looked at again soon either way: a suspended job is otherwise not requeued.
 */
export async function stopEvicted(
  ctx: PassContext,
  b: StatusBuilder,
  gate: Extract<KueueGate, { kind: "Stop" }>,
  placed: (job: TrainingJob) => Promise<ReconcileResult>,
): Promise<ReconcileResult> {
  await placed(gate.job);
  return Result.requeueAfter((await afterStop(ctx, b, gate)) ? 100 : 2_000);
}

/**
 * After the placed job ran suspended: once its pods are gone and its newest step is in every store
 * (a replication pass after the pods stopped, as a drain waits; at most drainCheckpointTimeout), the
 * quota is given back and the placement dropped.
 */
async function afterStop(ctx: PassContext, b: StatusBuilder, gate: Extract<KueueGate, { kind: "Stop" }>) {
  if (b.phase !== "Suspended") return false;
  if (!newestStepEverywhere(ctx, gate.job, b)) return false;
  const { workload, admission } = gate;
  if (workload.metadata.name && admission.reserved && !(await giveBackEvicted(ctx, b, workload, admission)))
    return false;
  b.event({
    type: "Normal",
    reason: "PlacementDropped",
    message: `the job's pods stopped on ${b.status.placement?.cluster}; its placement is dropped, and it resumes from its newest step once Kueue admits it again`,
  });
  b.status.placement = undefined;
  // Not suspended by anyone: queued again, waiting for Kueue.
  b.status.conditions = b.status.conditions?.filter((c) => c.type !== CONDITION.Suspended);
  b.setPhase("Pending");
  return true;
}

/** True once a replication pass ran after the pods stopped and every store has the newest step, or the drain timeout is up. */
function newestStepEverywhere(ctx: PassContext, job: TrainingJob, b: StatusBuilder): boolean {
  const stopped = b.status.conditions?.find((c) => c.type === CONDITION.Suspended && c.status === "True");
  const since = b.now.getTime() - Date.parse(stopped?.lastTransitionTime ?? b.now.toISOString());
  if (since < (ctx.o.checkpointIntervalMs ?? 10_000)) return false;
  const steps = (b.status.checkpoint?.stores ?? []).map((s) => s.latestStep ?? -1);
  if (steps.every((s) => s === Math.max(...steps))) return true;
  const timeout = failoverTimeouts(job).drain;
  if (since < timeout) {
    b.condition({
      type: CONDITION.Admitted,
      status: "False",
      reason: "Stopping",
      message: `evicted by Kueue: the pods stopped; waiting up to ${Math.ceil((timeout - since) / 1000)}s for step ${Math.max(...steps)} to reach every store before the quota is given back`,
    });
    return false;
  }
  b.event({
    type: "Warning",
    reason: "DrainCheckpointTimeout",
    message: `step ${Math.max(...steps)} did not reach every store within drainCheckpointTimeout (${timeout / 1000}s); the quota is given back all the same`,
  });
  return true;
}

/** On the job's deletion: its Workload goes too, Kueue's finalizer lifted (the owner's part, as for Kueue's jobs). */
export async function deleteWorkload(ctx: PassContext, job: TrainingJob): Promise<void> {
  if (queueOf(job) !== undefined || job.status?.queue) await removeWorkload(ctx, job);
}

async function removeWorkload(ctx: PassContext, job: TrainingJob): Promise<void> {
  const kueue = ctx.o.kueue;
  if (!kueue || !(await kueue.ready())) return;
  const wl = kueue.of(job);
  if (!wl) return;
  if (wl.metadata.finalizers?.includes(KUEUE_FINALIZER))
    await kueue.patch(wl, { metadata: { finalizers: others(wl) } });
  await kueue.delete(wl);
}

/**
 * Since when an admitted job has been without a placement: the later of its admission and the Placed
 * condition turning False; now while it is placed, moving or waiting for a scale-up it asked for.
 */
function unplacedSince(b: StatusBuilder, admitted: { status?: string; lastTransitionTime?: string } | undefined) {
  const now = b.now.getTime();
  if (b.status.placement || b.status.scaleUp || currentMove(b.status) || admitted?.status !== "True") return now;
  const placed = b.status.conditions?.find((c) => c.type === CONDITION.Placed);
  if (!placed || placed.status === "True") return now;
  return Math.max(Date.parse(admitted.lastTransitionTime ?? ""), Date.parse(String(placed.lastTransitionTime)));
}

function hold(b: StatusBuilder, reason: string, message: string): void {
  b.condition({ type: CONDITION.Admitted, status: "False", reason, message });
  if (!b.status.placement) b.setPhase("Pending");
}

function suspendedView(job: TrainingJob): TrainingJob {
  return { ...job, spec: { ...job.spec, suspend: true } };
}

/** A placed job whose Workload is gone or not admitted: it stops like an evicted one. */
function stopping(job: TrainingJob, wl: Workload | undefined) {
  const admission: Evicted = { state: "Evicted", reason: "NotAdmitted", message: "not admitted", reserved: false };
  return { job: suspendedView(job), workload: wl ?? ({ metadata: { name: "" } } as Workload), admission };
}

function others(wl: Workload): string[] {
  return (wl.metadata.finalizers ?? []).filter((f) => f !== KUEUE_FINALIZER);
}

/** Gives an evicted job's quota back; false when the Workload changed meanwhile (tried again by the next pass). */
async function giveBackEvicted(ctx: PassContext, b: StatusBuilder, wl: Workload, a: Evicted): Promise<boolean> {
  const requeue = a.reason === "Preempted";
  if (!(await writeOrRetry(ctx, wl, releasedStatus(wl, { reason: a.reason, message: a.message, requeue }, b.now))))
    return false;
  const queue = b.status.queue?.name ?? "";
  ctx.o.kueueMetrics?.evicted(b.status.queue?.clusterQueue ?? "", queue, a.reason);
  b.condition({
    type: CONDITION.Admitted,
    status: "False",
    reason: a.reason,
    message: `evicted by Kueue: ${a.message}`,
  });
  b.event({
    type: "Warning",
    reason: "Evicted",
    message: `Kueue evicted the job (${a.reason}): ${a.message}; its quota is given back`,
  });
  return true;
}

async function giveBackUnplaced(
  ctx: PassContext,
  b: StatusBuilder,
  wl: Workload,
  unplacedMs: number,
): Promise<KueueGate> {
  const n = wl.status?.requeueState?.count ?? 0;
  const backoffMs = Math.min(REQUEUE_BASE_MS * 2 ** n, REQUEUE_MAX_MS);
  const placedCond = b.status.conditions?.find((c) => c.type === CONDITION.Placed);
  const message = `admitted but not placed for ${Math.round(unplacedMs / 1000)} s (${placedCond?.reason ?? "no placement"}: ${placedCond?.message ?? ""}); quota given back, Kueue may admit it again in ${Math.round(backoffMs / 1000)} s`;
  if (
    !(await writeOrRetry(
      ctx,
      wl,
      releasedStatus(wl, { reason: "NoPlacement", message, requeue: true, backoffMs }, b.now),
    ))
  )
    return { kind: "Hold", result: Result.requeueAfter(500) };
  b.condition({ type: CONDITION.Admitted, status: "False", reason: "NoPlacement", message });
  b.event({ type: "Warning", reason: "QuotaReleased", message });
  return { kind: "Hold", result: Result.requeueAfter(backoffMs) };
}

/** Writes the Workload's status; false when Kueue changed it meanwhile (the next pass reads it again). */
async function writeOrRetry(ctx: PassContext, wl: Workload, status: NonNullable<Workload["status"]>): Promise<boolean> {
  try {
    await ctx.o.kueue?.writeStatus(wl, status);
    return true;
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
}

async function priorityOf(ctx: PassContext, job: TrainingJob): Promise<{ name: string; value: number } | undefined> {
  const name = job.metadata.labels?.[PRIORITY_CLASS_LABEL];
  if (!name) return undefined;
  const value = await ctx.o.kueue?.priorityValue(name);
  if (value === undefined)
    throw new Error(
      `metadata.labels["${PRIORITY_CLASS_LABEL}"] names WorkloadPriorityClass ${name}, which the hub does not have: create it or fix the label`,
    );
  return { name, value };
}
