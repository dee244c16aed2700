// The finalizer: added before anything is created on a worker, dropped on
// deletion once every reachable worker the job used confirms its workloads are
// gone. The clusters it used are those its status names (its placement, the
// moves it made) and those whose informer holds a Job of it (a replicate Job,
// an epoch replaced for an edit); no other cluster is called, so one that hangs
// does not delay the deletion. A worker that does not answer is not waited
// for: what the job left there is an orphan, removed by the orphan collector
// (collectOrphans in fence.ts) when it answers.

import { GROUP, VERSION } from "../../api/common.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import { MERGE_PATCH } from "../../kube/apis.ts";
import { ignoreNotFound } from "../../runtime/api-errors.ts";
import { type ReconcileResult, Result } from "../../runtime/result.ts";
import { cleanupWorker } from "./cleanup.ts";
import { keyOf, type PassContext } from "./context.ts";
import { clusterAnswers } from "./failover-trigger.ts";
import { giveBackGroups } from "./give-back.ts";
import { deleteWorkload } from "./kueue-gate.ts";
import { forgetResumeSteps } from "./launch.ts";
import { StatusBuilder } from "./status.ts";

export const FINALIZER = "training.crosscloud.dev/cleanup";

export function jobRef(job: TrainingJob) {
  return {
    group: GROUP,
    version: VERSION,
    plural: "trainingjobs",
    namespace: job.metadata.namespace ?? "",
    name: job.metadata.name ?? "",
  };
}

/**
 * The clusters `job` used: its placement's, those its moves name, and those whose informer (no
 * request) shows a Job with its uid. In the order its status names them, then the registry's.
 */
export function clustersUsed(ctx: PassContext, job: TrainingJob): string[] {
  const named = [
    job.status?.placement?.cluster,
    ...(job.status?.failovers ?? []).flatMap((f) => [f.from, f.to].map((w) => w?.split("/")[0])),
  ].filter((c): c is string => Boolean(c));
  const uid = job.metadata.uid ?? "";
  const holding = ctx.o.registry.names().filter((c) => (ctx.o.registry.get(c)?.jobsOf(uid).length ?? 0) > 0);
  return [...new Set([...named, ...holding])];
}

/** Deletion: every reachable worker the job used confirms nothing is left before the finalizer goes. */
export async function finalize(ctx: PassContext, job: TrainingJob): Promise<ReconcileResult> {
  ctx.o.checkpoints.forget(keyOf(job));
  ctx.placer.forget(job.metadata.uid ?? "");
  forgetResumeSteps(ctx.resumeSteps, job.metadata.uid ?? "");
  if (!job.metadata.finalizers?.includes(FINALIZER)) return Result.done();
  for (const cluster of clustersUsed(ctx, job)) {
    const cc = ctx.o.clusters.get(undefined, cluster);
    const worker = ctx.o.registry.get(cluster);
    // A ComputeCluster that was deleted can never answer; one that does not answer now is left to the
    // orphan collector: the job's deletion does not wait for a lost cluster.
    if (!cc || !worker || !clusterAnswers(cc)) continue;
    const result = await cleanupWorker(worker, job.metadata.uid ?? "").catch((err: Error) => ({
      done: false as const,
      waitingFor: `${cluster}: ${err.message}`,
    }));
    if (!result.done) {
      ctx.o.logger.info("waiting to clean up", { job: keyOf(job), waitingFor: result.waitingFor });
      return Result.requeueAfter(2_000);
    }
  }
  // Its Kueue Workload goes with it, Kueue's finalizer lifted (its quota is free at once).
  await deleteWorkload(ctx, job);
  // Groups grown for the job are given back once, best effort: its status goes with it.
  await giveBackGroups(ctx, job, new StatusBuilder(job, new Date()), true);
  // A pass on a copy from before the finalizer went finds the job gone: that is this pass's aim.
  await ignoreNotFound(
    ctx.o.custom.patchNamespacedCustomObject(
      {
        ...jobRef(job),
        body: {
          metadata: {
            resourceVersion: job.metadata.resourceVersion,
            finalizers: job.metadata.finalizers.filter((f) => f !== FINALIZER),
          },
        },
      },
      MERGE_PATCH,
    ),
  );
  return Result.done();
}

/** Adds the finalizer (checked by resourceVersion); returns the object as the API server now holds it. */
export async function addFinalizer(ctx: PassContext, job: TrainingJob): Promise<TrainingJob> {
  return (await ctx.o.custom.patchNamespacedCustomObject(
    {
      ...jobRef(job),
      body: {
        metadata: {
          resourceVersion: job.metadata.resourceVersion,
          finalizers: [...(job.metadata.finalizers ?? []), FINALIZER],
        },
      },
    },
    MERGE_PATCH,
  )) as TrainingJob;
}
