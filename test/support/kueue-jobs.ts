// Helpers of the Kueue integration tests: applying Kueue objects to the hub,
// queued TrainingJobs, and reading the Workload the operator made for a job.

import { CustomObjectsApi } from "@kubernetes/client-node";
import type { TrainingJob } from "../../src/api/trainingjob.ts";
import { WORKLOADS, type Workload, workloadNameOf } from "../../src/kueue/workload.ts";
import { clients, kubectl } from "./sandbox.ts";
import { aTrainingJob } from "./trainingjob.ts";

/** Applies YAML (or a file with `-f path`) to the hub; throws with kubectl's output when it fails. */
export function applyToHub(args: { file?: string; yaml?: string }): void {
  const r = args.file ? kubectl("hub", ["apply", "-f", args.file]) : kubectl("hub", ["apply", "-f", "-"], args.yaml);
  if (r.status !== 0) throw new Error(`kubectl apply: ${r.stderr || r.stdout}`);
}

/**
 * A TrainingJob of `replicas` nodes of 8 H100 GPUs, queued on `queue` (with a priority class when
 * given), that runs for `runFor` on the sandbox's fake nodes; any capacity type, so that the
 * sandbox's 10 H100 nodes (aws-sim p5, azure-sim ndh100 and ndh100spot) take two 4-node jobs at once.
 */
export function queuedH100(
  name: string,
  queue: string | undefined,
  runFor: string,
  o: { replicas?: number; priority?: string } = {},
) {
  return aTrainingJob(name)
    .replicas(o.replicas ?? 4)
    .accelerator("nvidia-h100", 8)
    .with((j) => {
      j.metadata.labels = {
        ...(queue ? { "kueue.x-k8s.io/queue-name": queue } : {}),
        ...(o.priority ? { "kueue.x-k8s.io/priority-class": o.priority } : {}),
      };
      j.spec.placement.capacityType = "Any";
      j.spec.terminationGracePeriod = "5s";
      j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": runFor } };
    })
    .obj();
}

/** The job's Workload on the hub, or undefined. */
export async function workloadOf(job: TrainingJob): Promise<Workload | undefined> {
  const api = clients("hub").kubeConfig.makeApiClient(CustomObjectsApi);
  return api
    .getNamespacedCustomObject({ ...WORKLOADS, namespace: job.metadata.namespace ?? "", name: workloadNameOf(job) })
    .then((o) => o as Workload)
    .catch((err: { code?: number }) => (err.code === 404 ? undefined : Promise.reject(err)));
}

export const admissionOf = (j: TrainingJob) => j.status?.conditions?.find((c) => c.type === "Admitted");
