// Deterministic names and labels of the worker-side resources of one
// placement, so creates are idempotent and every object links back to its
// TrainingJob (by uid) and epoch.

export const LABEL_JOB_UID = "training.crosscloud.dev/job-uid";
export const LABEL_JOB_NAME = "training.crosscloud.dev/job-name";
export const LABEL_JOB_NAMESPACE = "training.crosscloud.dev/job-namespace";
export const LABEL_EPOCH = "training.crosscloud.dev/epoch";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const MANAGER = "crosscloud-operator";
/** Selects every worker object the operator manages. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGER}`;
/** The Job controller's annotation carrying a pod's completion index (its rank). */
export const COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index";

export interface JobRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** The worker Job and its headless Service share one name: <job>-e<epoch>. */
export function workloadName(job: Pick<JobRef, "name">, epoch: number): string {
  return `${job.name}-e${epoch}`;
}

export function workloadLabels(job: JobRef, epoch: number): Record<string, string> {
  return {
    [LABEL_JOB_UID]: job.uid,
    [LABEL_JOB_NAME]: job.name,
    [LABEL_JOB_NAMESPACE]: job.namespace,
    [LABEL_EPOCH]: String(epoch),
    [LABEL_MANAGED_BY]: MANAGER,
  };
}

/** The hub key (namespace/name) of the TrainingJob a worker object belongs to, from its labels. */
export function trainingJobKeyOf(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  const ns = labels?.[LABEL_JOB_NAMESPACE];
  const name = labels?.[LABEL_JOB_NAME];
  return ns && name ? `${ns}/${name}` : undefined;
}
