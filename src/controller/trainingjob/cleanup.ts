// Removes a TrainingJob's workloads from worker clusters and confirms they are
// gone (the Job with its pods, then its Secret, resume ConfigMap, Service and,
// on GB200/GB300, ComputeDomain), so the finalizer is dropped only once every
// worker has answered that nothing is left.

import type { V1Job } from "@kubernetes/client-node";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { CustomObjectsApi } from "../../kube/apis.ts";
import { isForbidden, isNotFound } from "../../runtime/api-errors.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../workload/names.ts";
import { COMPUTE_DOMAIN_API_VERSION } from "../../workload/topology.ts";

export type CleanupResult = { readonly done: true } | { readonly done: false; readonly waitingFor: string };

async function gone<T>(read: () => Promise<T>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    if (isNotFound(err)) return true;
    throw err;
  }
}

async function removeIgnoringMissing(remove: () => Promise<unknown>): Promise<void> {
  await remove().catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

/** Deletes the job's workloads on `worker` (of every epoch, or of only `epoch`); done when none is left. */
export async function cleanupWorker(worker: WorkerCluster, jobUid: string, epoch?: number): Promise<CleanupResult> {
  const selector = `${LABEL_JOB_UID}=${jobUid}${epoch !== undefined ? `,${LABEL_EPOCH}=${epoch}` : ""}`;
  const jobs = await worker.batch.listJobForAllNamespaces({ labelSelector: selector });
  const services = await worker.core.listServiceForAllNamespaces({ labelSelector: selector });
  for (const job of jobs.items) await deleteJob(worker, job);
  // Copies of store credentials are made only with deploy/worker/store-credentials' role, which lets
  // the operator list them; without it there are none to find, and cleanup must not stop at a 403.
  const secrets = await worker.core
    .listSecretForAllNamespaces({ labelSelector: selector })
    .catch((err: unknown) => (isForbidden(err) ? { items: [] } : Promise.reject(err)));
  for (const s of secrets.items) {
    const { name = "", namespace = "" } = s.metadata ?? {};
    await removeIgnoringMissing(() => worker.core.deleteNamespacedSecret({ name, namespace }));
  }
  const configMaps = await worker.core.listConfigMapForAllNamespaces({ labelSelector: selector });
  for (const c of configMaps.items) {
    const { name = "", namespace = "" } = c.metadata ?? {};
    await removeIgnoringMissing(() => worker.core.deleteNamespacedConfigMap({ name, namespace }));
  }
  for (const svc of services.items) {
    const { name = "", namespace = "" } = svc.metadata ?? {};
    await removeIgnoringMissing(() => worker.core.deleteNamespacedService({ name, namespace }));
  }
  await deleteComputeDomains(worker, selector);
  for (const job of jobs.items) {
    const { name = "", namespace = "" } = job.metadata ?? {};
    if (!(await gone(() => worker.batch.readNamespacedJob({ name, namespace })))) {
      return { done: false, waitingFor: `Job ${namespace}/${name} on ${worker.name} (its pods are being deleted)` };
    }
  }
  return { done: true };
}

const COMPUTE_DOMAINS = {
  group: COMPUTE_DOMAIN_API_VERSION.split("/")[0] ?? "",
  version: COMPUTE_DOMAIN_API_VERSION.split("/")[1] ?? "",
  plural: "computedomains",
};

/**
 * Deletes the ComputeDomains (GB200/GB300 placements) that `selector` matches. A worker that does not
 * serve the kind (no NVIDIA DRA driver: 404) has none; one whose role predates them (403) cannot have
 * had any created by the operator either.
 */
async function deleteComputeDomains(worker: WorkerCluster, selector: string): Promise<void> {
  const api = new CustomObjectsApi(worker.client);
  const list = (await api
    .listClusterCustomObject({ ...COMPUTE_DOMAINS, labelSelector: selector })
    .catch((err: unknown) => (isNotFound(err) || isForbidden(err) ? { items: [] } : Promise.reject(err)))) as {
    items?: { metadata?: { name?: string; namespace?: string } }[];
  };
  for (const cd of list.items ?? []) {
    const { name = "", namespace = "" } = cd.metadata ?? {};
    await removeIgnoringMissing(() => api.deleteNamespacedCustomObject({ ...COMPUTE_DOMAINS, name, namespace }));
  }
}

/** Foreground deletion: the Job disappears only after its pods have. */
export async function deleteJob(worker: WorkerCluster, job: V1Job): Promise<void> {
  const { name = "", namespace = "" } = job.metadata ?? {};
  await removeIgnoringMissing(() =>
    worker.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Foreground" }),
  );
}
