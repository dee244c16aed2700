// Fencing: one epoch runs at a time. An older epoch's workload (Job, Service,
// Secret) is deleted from any cluster that answers, as soon as it answers; the
// worker's informer is the record of what is left, so the debt survives an
// operator restart. Workloads whose TrainingJob is gone altogether are the
// orphan collector's (collectOrphans), which the job's deletion relies on.

import type { V1Job } from "@kubernetes/client-node";
import { FAILOVER_EVENT } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../workload/names.ts";
import { cleanupWorker } from "./cleanup.ts";
import type { PassContext } from "./context.ts";
import { clusterAnswers } from "./failover-trigger.ts";
import type { StatusBuilder } from "./status.ts";

/** Epochs below `current` of the job `uid` that the worker still holds, from its informer. */
export function staleEpochs(jobs: readonly V1Job[], uid: string, current: number): number[] {
  const epochs = jobs
    .filter((j) => j.metadata?.labels?.[LABEL_JOB_UID] === uid)
    .map((j) => Number(j.metadata?.labels?.[LABEL_EPOCH]))
    .filter((e) => Number.isInteger(e) && e < current);
  return [...new Set(epochs)].sort((a, b) => a - b);
}

/** Deletes older epochs' workloads of `job` on every cluster that answers; true when none is left anywhere. */
export async function fenceOldEpochs(ctx: PassContext, job: TrainingJob, b: StatusBuilder): Promise<boolean> {
  const uid = job.metadata.uid ?? "";
  const current = b.status.epoch ?? 1;
  let clean = true;
  for (const name of ctx.o.registry.names()) {
    const worker = ctx.o.registry.get(name);
    const stale = worker ? staleEpochs(worker.jobsOf(uid), uid, current) : [];
    if (!worker || stale.length === 0) continue;
    const cc = ctx.o.clusters.get(undefined, name);
    if (!cc || !clusterAnswers(cc)) {
      clean = false;
      continue;
    }
    for (const epoch of stale) clean = (await removeEpoch(worker, job, b, epoch)) && clean;
  }
  return clean;
}

/** Deletes one epoch's workload on `worker`; true once its Job (and so its pods) are gone. */
export async function removeEpoch(
  worker: WorkerCluster,
  job: TrainingJob,
  b: StatusBuilder,
  epoch: number,
): Promise<boolean> {
  const deleting = worker
    .jobsOf(job.metadata.uid ?? "")
    .some(
      (j) =>
        j.metadata?.labels?.[LABEL_JOB_UID] === job.metadata.uid &&
        j.metadata?.labels?.[LABEL_EPOCH] === String(epoch) &&
        j.metadata?.deletionTimestamp,
    );
  const result = await cleanupWorker(worker, job.metadata.uid ?? "", epoch);
  if (!deleting) {
    b.event({
      type: "Normal",
      reason: FAILOVER_EVENT.Fenced,
      message: `epoch ${epoch} is fenced: deleting its Job, Service and Secret on ${worker.name}`,
    });
  }
  return result.done;
}

/**
 * Deletes every workload on `worker` whose TrainingJob (by uid) is not in `live`; returns how many
 * jobs' workloads are still being deleted. `live` must come from a synced hub informer.
 */
export async function collectOrphans(worker: WorkerCluster, live: ReadonlySet<string>): Promise<number> {
  const orphans = new Set(
    worker.jobs
      .list()
      .map((j) => j.metadata?.labels?.[LABEL_JOB_UID])
      .filter((uid): uid is string => uid !== undefined && !live.has(uid)),
  );
  let left = 0;
  for (const uid of orphans) if (!(await cleanupWorker(worker, uid)).done) left++;
  return left;
}
