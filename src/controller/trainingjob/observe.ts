// Reads the state of a placement from its worker Job and pods: replica counts
// and whether it is starting, running, suspended, succeeded or failed, with
// the failed pod's reason and exit code. Pure.

import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { TRAINER_CONTAINER } from "../../workload/render.ts";

export type WorkloadState =
  | { readonly kind: "Missing" }
  | { readonly kind: "Starting" | "Running" | "Suspended"; readonly replicas: Replicas }
  | { readonly kind: "Succeeded"; readonly replicas: Replicas }
  | { readonly kind: "Failed"; readonly replicas: Replicas; readonly reason: string; readonly message: string };

export interface Replicas {
  readonly desired: number;
  readonly running: number;
  readonly succeeded: number;
  readonly failed: number;
}

function jobCondition(job: V1Job, type: string) {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/** "pod x failed: OOMKilled, exit code 137" for the newest failed pod, if any. */
export function lastPodFailure(pods: readonly V1Pod[]): string | undefined {
  const failed = pods
    .filter((p) => p.status?.phase === "Failed")
    .sort((a, b) =>
      String(b.metadata?.creationTimestamp ?? "").localeCompare(String(a.metadata?.creationTimestamp ?? "")),
    );
  const pod = failed[0];
  if (!pod) return undefined;
  const statuses = pod.status?.containerStatuses ?? [];
  const trainer = statuses.find((s) => s.name === TRAINER_CONTAINER) ?? statuses.find((s) => s.state?.terminated);
  const t = trainer?.state?.terminated;
  const why = t ? `${t.reason ?? "Error"}, exit code ${t.exitCode}` : (pod.status?.reason ?? "unknown reason");
  return `pod ${pod.metadata?.name} failed: ${why}`;
}

export function observeWorkload(job: V1Job | undefined, pods: readonly V1Pod[], desired: number): WorkloadState {
  if (!job) return { kind: "Missing" };
  const s = job.status ?? {};
  const replicas: Replicas = {
    desired,
    running: s.ready ?? 0,
    succeeded: s.succeeded ?? 0,
    failed: s.failed ?? 0,
  };
  if (jobCondition(job, "Complete")) return { kind: "Succeeded", replicas };
  const failed = jobCondition(job, "Failed");
  if (failed) {
    const pod = lastPodFailure(pods);
    const message = [failed.message, pod].filter(Boolean).join("; ");
    return { kind: "Failed", replicas, reason: failed.reason ?? "JobFailed", message };
  }
  if (job.spec?.suspend && (s.active ?? 0) === 0) return { kind: "Suspended", replicas };
  // Replicas that already finished still count: a job whose pods are completing one by one is Running
  // (finishing) until the Job reports Complete, not back to Starting.
  if (replicas.running + replicas.succeeded >= desired) return { kind: "Running", replicas };
  return { kind: "Starting", replicas };
}
