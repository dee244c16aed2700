// Deterministic names and labels of the worker-side resources of one
// placement, so creates are idempotent and every object links back to its
// TrainingJob (by uid) and epoch.

import { createHash } from "node:crypto";

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

/**
 * The worker Job and its headless Service share one name: <job>-e<epoch> in the job's own namespace.
 * In a shared workload namespace (a ComputeCluster's workloadNamespace) jobs of several hub
 * namespaces meet, so the name also carries a short hash of the hub namespace: <job>-<hash>-e<epoch>.
 * (A TrainingJob name is at most 48 characters: with the hash, an epoch below 1000 and a pod index
 * below 10000 the pods' hostnames stay within 63.) The operator never adopts an object of that name
 * whose job-uid label is another job's (launch.ts), so a hash collision is refused, not shared.
 */
export function workloadName(job: Pick<JobRef, "name" | "namespace">, epoch: number, workerNamespace: string): string {
  if (workerNamespace === job.namespace) return `${job.name}-e${epoch}`;
  return `${job.name}-${namespaceTag(job.namespace)}-e${epoch}`;
}

/** Four base-36 characters from the hub namespace's SHA-256. */
export function namespaceTag(namespace: string): string {
  const n = createHash("sha256").update(namespace).digest().readUInt32BE(0) % 36 ** 4;
  return n.toString(36).padStart(4, "0");
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
