// The WorkloadBlocked condition: what keeps a placed job's workload from
// starting on its worker (workload-problems.ts names the causes), one Warning
// event when a cause appears, the same reason on Running=False while the job
// is Starting, and nothing once the cause is gone. No cause makes the operator
// apply or relaunch any faster: a refused launch is tried again at the job's
// normal interval, and the other causes only change what the status says.

import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { ComputeCluster } from "../../api/computecluster.ts";
import { CONDITION } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { EpochFence } from "../../checkpoint/fence.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { TRAINER_CONTAINER } from "../../workload/render.ts";
import type { PassContext } from "./context.ts";
import { existingJob, type Launched, launch, workerNamespace } from "./launch.ts";
import type { StatusBuilder } from "./status.ts";
import {
  podsMissing,
  recentFailedCreate,
  refusalOf,
  type WorkloadPlace,
  type WorkloadProblem,
  workloadProblem,
} from "./workload-problems.ts";

/**
 * Launches the placement's workload; when the worker refuses it (admission, quota, invalid), sets
 * WorkloadBlocked/JobRefused and returns undefined: the caller looks again at its normal interval.
 * When the refused write was an update of a Job that runs already (a webhook or policy added since
 * its launch), that Job is returned with `refused`: it is still observed (its end, deadline and TTL
 * recorded) and the refusal reported as WorkloadUpToDate=False (reportOutdated in reconciler.ts).
 * Any other error is thrown as before.
 */
export async function launchUnlessRefused(
  ctx: PassContext,
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
  cc: ComputeCluster,
  fence: EpochFence,
): Promise<Launched | undefined> {
  try {
    return await launch(ctx, job, b, worker, cc, fence);
  } catch (err) {
    const refused = refusalOf(err, placeOf(job, b, cc));
    if (!refused) throw err;
    const running = await existingJob(ctx, job, b, worker, cc);
    if (running) return { job: running, created: false, refused };
    setBlocked(b, refused);
    return undefined;
  }
}

/**
 * Sets WorkloadBlocked from what the worker shows of the placement's Job and pods, reading the Job's
 * FailedCreate events only when some of its pods have been missing longer than the grace; clears it
 * when nothing is wrong.
 */
export function reportBlocked(
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
  cc: ComputeCluster,
  workerJob: V1Job | undefined,
  pods: readonly V1Pod[],
): void {
  const now = b.now;
  const failedCreate = podsMissing(workerJob, pods, job.spec.replicas, now)
    ? newestFailedCreate(worker, workerJob, now)
    : undefined;
  const view = {
    job: workerJob,
    pods,
    desired: job.spec.replicas,
    ...(failedCreate ? { failedCreate } : {}),
    imageField: imageField(job, b),
    now,
  };
  const problem = workloadProblem(view, placeOf(job, b, cc));
  if (problem) setBlocked(b, problem);
  else clearBlocked(b);
}

/** The condition, an event when its reason is new, and Running=False with the same reason while Starting. */
export function setBlocked(b: StatusBuilder, p: WorkloadProblem): void {
  const before = b.status.conditions?.find((c) => c.type === CONDITION.WorkloadBlocked)?.reason;
  b.condition({ type: CONDITION.WorkloadBlocked, status: "True", reason: p.reason, message: p.message });
  if (before !== p.reason) b.event({ type: "Warning", reason: p.reason, message: p.message });
  if (b.phase === "Starting") b.condition({ type: CONDITION.Running, status: "False", ...p });
}

export function clearBlocked(b: StatusBuilder): void {
  if (b.status.conditions?.some((c) => c.type === CONDITION.WorkloadBlocked)) {
    b.status.conditions = b.status.conditions.filter((c) => c.type !== CONDITION.WorkloadBlocked);
  }
}

function placeOf(job: TrainingJob, b: StatusBuilder, cc: ComputeCluster): WorkloadPlace {
  const p = b.status.placement;
  return {
    cluster: p?.cluster ?? cc.metadata.name ?? "",
    namespace: workerNamespace(job, cc),
    ...(p?.nodeGroup ? { nodeGroup: p.nodeGroup } : {}),
  };
}

/** The TrainingJob field a container's image comes from: the chosen accelerator option's, or the template's. */
function imageField(job: TrainingJob, b: StatusBuilder): (container: string) => string {
  const option = job.spec.accelerators.find((a) => a.type === b.status.placement?.accelerator);
  return (container) =>
    container === TRAINER_CONTAINER && option?.image
      ? `spec.accelerators[type=${option.type}].image`
      : `spec.template.spec.containers[name=${container}].image`;
}

/** The newest recent FailedCreate message of the worker Job, from the worker's informer of those events (no request). */
function newestFailedCreate(worker: WorkerCluster, workerJob: V1Job | undefined, now: Date): string | undefined {
  const uid = workerJob?.metadata?.uid;
  return uid ? recentFailedCreate(worker.failedCreatesOf(uid), now) : undefined;
}
