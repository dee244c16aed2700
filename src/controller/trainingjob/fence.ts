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

/**
 * Deletes the workloads of `job`'s epochs below `below` (default: the current epoch) on every cluster
 * that answers; returns what is still being deleted there ("Job ns/name on cluster ..."), empty when
 * nothing is. A cluster that does not answer is fenced when it answers again.
 */
export async function fenceOldEpochs(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  below = b.status.epoch ?? 1,
): Promise<string[]> {
  const uid = job.metadata.uid ?? "";
  const waiting: string[] = [];
  for (const name of ctx.o.registry.names()) {
    const worker = ctx.o.registry.get(name);
    const stale = worker ? staleEpochs(worker.jobsOf(uid), uid, below) : [];
    const cc = ctx.o.clusters.get(undefined, name);
    if (!worker || stale.length === 0 || !cc || !clusterAnswers(cc)) continue;
    for (const epoch of stale) {
      const left = await removeEpoch(worker, job, b, epoch);
      if (left) waiting.push(left);
    }
  }
  return waiting;
}

/** Deletes one epoch's workload on `worker`; undefined once its Job (and so its pods) are gone, else what is left. */
export async function removeEpoch(
  worker: WorkerCluster,
  job: TrainingJob,
  b: StatusBuilder,
  epoch: number,
): Promise<string | undefined> {
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
  return result.done ? undefined : result.waitingFor;
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
