// The run policy: activeDeadlineSeconds (past it the pods are stopped and the
// job Failed) and ttlSecondsAfterFinished (the worker resources go once it
// has passed).

import { FAILED } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import { cleanupWorker } from "./cleanup.ts";
import type { PassContext } from "./context.ts";
import { finish } from "./report.ts";
import type { StatusBuilder } from "./status.ts";

/** activeDeadlineSeconds: past it, the pods are stopped and the job Failed. */
export async function enforceDeadline(
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
): Promise<ReconcileResult> {
  const deadline = job.spec.runPolicy.activeDeadlineSeconds;
  if (deadline === undefined || !b.status.startTime || b.phase === "Succeeded" || b.phase === "Failed")
    return Result.done();
  const left = Date.parse(b.status.startTime) + deadline * 1000 - b.now.getTime();
  if (left > 0) return Result.requeueAfter(left);
  await cleanupWorker(worker, job.metadata.uid ?? "");
  finish(
    b,
    "Failed",
    FAILED.DeadlineExceeded,
    `the job ran longer than spec.runPolicy.activeDeadlineSeconds (${deadline}s); its pods were stopped`,
  );
  return Result.done();
}

/** ttlSecondsAfterFinished: the worker resources go once it has passed. */
export async function afterFinish(ctx: PassContext, job: TrainingJob, b: StatusBuilder): Promise<ReconcileResult> {
  const ttl = job.spec.runPolicy.ttlSecondsAfterFinished;
  const done = b.status.completionTime;
  const cluster = b.status.placement?.cluster;
  if (ttl === undefined || !done || !cluster) return Result.done();
  const left = Date.parse(done) + ttl * 1000 - b.now.getTime();
  if (left > 0) return Result.requeueAfter(left);
  const worker = ctx.o.registry.get(cluster);
  if (!worker) return Result.requeueAfter(10_000);
  const leftovers = worker.jobsOf(job.metadata.uid ?? "").length > 0;
  if (!leftovers) return Result.done();
  const cleaned = await cleanupWorker(worker, job.metadata.uid ?? "");
  if (!cleaned.done) return Result.requeueAfter(2_000);
  b.event({
    type: "Normal",
    reason: "WorkloadRemoved",
    message: `ttlSecondsAfterFinished (${ttl}s) passed: removed the workload from ${cluster}`,
  });
  return Result.done();
}
