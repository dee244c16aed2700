// Writing a job's objects to its worker: server-side apply owned by the
// operator, a first create that takes an existing object only when it is
// this job's, the workload namespace made once per process, and the Job as the
// informer or the worker shows it.

import type { KubernetesObject, V1Job } from "@kubernetes/client-node";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { ignoreNotFound, isConflict } from "../../runtime/api-errors.ts";
import { LABEL_JOB_UID, trainingJobKeyOf } from "../../workload/names.ts";
import type { PassContext } from "./context.ts";

export const FIELD_MANAGER = "crosscloud-operator";

/** Server-side apply of a worker object, owned by the operator. */
export async function apply(worker: WorkerCluster, o: KubernetesObject): Promise<KubernetesObject> {
  return worker.objects.patch(o, FIELD_MANAGER);
}

/** Applies the workload namespace once per worker and process. */
export async function ensureNamespace(ctx: PassContext, worker: WorkerCluster, namespace: string): Promise<void> {
  const known = ctx.namespaces.get(worker.name) ?? new Set<string>();
  if (known.has(namespace)) return;
  await apply(worker, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  known.add(namespace);
  ctx.namespaces.set(worker.name, known);
}

/** A worker object of this job's name that belongs to another TrainingJob (another uid) is not this job's. */
export class NameConflictError extends Error {
  constructor(worker: WorkerCluster, o: KubernetesObject) {
    const labels = o.metadata?.labels ?? {};
    const owner = trainingJobKeyOf(labels) ?? "something other than this operator";
    super(
      `${o.kind} ${o.metadata?.namespace}/${o.metadata?.name} on ${worker.name} belongs to TrainingJob ${owner} (uid ${labels[LABEL_JOB_UID] ?? "none"}), not to this one: the operator does not take it over; delete or rename one of the jobs, or give the ComputeCluster's workloadNamespace to one team only`,
    );
    this.name = "NameConflictError";
  }
}

export function refuseOthers(job: TrainingJob, worker: WorkerCluster, o: KubernetesObject | undefined): void {
  if (o && o.metadata?.labels?.[LABEL_JOB_UID] !== job.metadata.uid) throw new NameConflictError(worker, o);
}

/**
 * Creates `o`; when it exists already, reads it, throws NameConflictError when it is another job's,
 * and otherwise applies `o` over it (this job's, left by a crash or not yet in the informer).
 */
export async function createOrClaim(
  job: TrainingJob,
  worker: WorkerCluster,
  o: KubernetesObject,
): Promise<KubernetesObject> {
  try {
    return await worker.objects.create(o, FIELD_MANAGER);
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  const { name = "", namespace = "" } = o.metadata ?? {};
  const found = await ignoreNotFound(
    worker.objects.read({ apiVersion: o.apiVersion ?? "v1", kind: o.kind ?? "", metadata: { name, namespace } }),
  );
  refuseOthers(job, worker, found);
  return apply(worker, o);
}

/**
 * The worker's Job of this name: the informer's copy, else the worker's answer (a Job this pass or
 * the one before created may not be in the informer yet).
 */
export async function knownJob(worker: WorkerCluster, namespace: string, name: string): Promise<V1Job | undefined> {
  return worker.jobs.get(namespace, name) ?? ignoreNotFound(worker.batch.readNamespacedJob({ name, namespace }));
}
