// The WorkloadBlocked condition: what keeps a placed job's workload from
// starting on its worker (workload-problems.ts names the causes), one Warning
// event when a cause appears, the same reason on Running=False while the job
// is Starting, and nothing once the cause is gone. No cause makes the operator
// apply or relaunch any faster: a refused launch is tried again at the job's
// normal interval, and the other causes only change what the status says.

import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import type { ComputeCluster } from "../../api/computecluster.ts";
import { CONDITION } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { EpochFence } from "../../checkpoint/fence.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { TRAINER_CONTAINER } from "../../workload/render.ts";
import type { PassContext } from "./context.ts";
import { type Launched, launch, workerNamespace } from "./launch.ts";
import type { StatusBuilder } from "./status.ts";
import {
  PROBLEM_GRACE_MS,
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
    setBlocked(b, refused);
    return undefined;
  }
}

/**
 * Sets WorkloadBlocked from what the worker shows of the placement's Job and pods, reading the Job's
 * FailedCreate events only when some of its pods have been missing longer than the grace; clears it
 * when nothing is wrong.
 */
export async function reportBlocked(
  job: TrainingJob,
  b: StatusBuilder,
  worker: WorkerCluster,
  cc: ComputeCluster,
  workerJob: V1Job | undefined,
  pods: readonly V1Pod[],
): Promise<void> {
  const now = b.now;
  const failedCreate = podsMissing(workerJob, pods, job.spec.replicas, now)
    ? await newestFailedCreate(worker, workerJob, now)
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

/** FailedCreate messages read per worker Job uid, so a job looked at often costs one list per grace period. */
const readFailedCreate = new Map<string, { at: number; message: string | undefined }>();

/**
 * The newest recent FailedCreate message of the worker Job (the Job controller's events, in the Job's
 * namespace), by a list with field selectors (one request), at most once per PROBLEM_GRACE_MS per Job.
 */
async function newestFailedCreate(
  worker: WorkerCluster,
  workerJob: V1Job | undefined,
  now: Date,
): Promise<string | undefined> {
  const uid = workerJob?.metadata?.uid;
  const namespace = workerJob?.metadata?.namespace;
  if (!uid || !namespace) return undefined;
  const key = `${worker.name}/${uid}`;
  for (const [k, v] of readFailedCreate) if (now.getTime() - v.at > 60_000) readFailedCreate.delete(k);
  const held = readFailedCreate.get(key);
  if (held && now.getTime() - held.at < PROBLEM_GRACE_MS) return held.message;
  // Reading them is worth a message, not a failed pass: without them, missing pods are not explained.
  const list = await worker.core
    .listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${uid},reason=FailedCreate` })
    .catch(() => ({ items: [] as CoreV1Event[] }));
  const message = recentFailedCreate(list.items, now);
  readFailedCreate.set(key, { at: now.getTime(), message });
  return message;
}
