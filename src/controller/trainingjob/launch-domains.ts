// What a launch adds for a placement inside accelerator-fabric domains: the
// domains placement chose, handed to the render, and the placement's
// ComputeDomain (GB200/GB300), written before the Job whose pods claim it.

import type { KubernetesObject } from "@kubernetes/client-node";
import type { TrainingJob } from "../../api/trainingjob.ts";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { isNotFound } from "../../runtime/api-errors.ts";
import type { ComputeDomain, DomainTarget } from "../../workload/topology.ts";

/** The domains placement chose (status.placement.domainKey and domains), with the job's spec.placement.topology. */
export function domainsOf(
  job: TrainingJob,
  p: { readonly domainKey?: string; readonly domains?: string[] },
): { domains?: DomainTarget } {
  const topology = job.spec.placement.topology;
  if (!p.domainKey || !p.domains?.length || (topology !== "Required" && topology !== "Preferred")) return {};
  return { domains: { key: p.domainKey, domains: p.domains, topology } };
}

/**
 * Creates (or applies) the placement's ComputeDomain, before the Job whose pods claim its channel. A
 * worker that does not serve the kind (no NVIDIA DRA driver) gets an error that says so.
 */
export async function writeComputeDomain(
  write: (o: KubernetesObject) => Promise<KubernetesObject>,
  worker: WorkerCluster,
  cd: ComputeDomain,
): Promise<void> {
  await write(cd).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
    throw new Error(
      `${cd.kind} ${cd.metadata?.namespace}/${cd.metadata?.name} cannot be created on ${worker.name}: it does not serve ${cd.apiVersion} ${cd.kind}; GB200/GB300 jobs need the NVIDIA DRA driver (>= 25.8.0) installed there`,
      { cause: err },
    );
  });
}
