// The observe phase: turns what the worker shows (observe.ts reads it) into
// the TrainingJob's phase, Running/Suspended/Succeeded/Failed conditions,
// replica counts and events.

import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION, RUNNING, SUSPENDED } from "../../api/conditions.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import { lastPodFailure, type Replicas, type WorkloadState } from "./observe.ts";
import type { StatusBuilder } from "./status.ts";

export function reportWorkload(job: TrainingJob, b: StatusBuilder, state: WorkloadState, pods: readonly V1Pod[]): void {
  const where = b.status.placement?.cluster ?? "";
  if (state.kind === "Missing") return;
  const r = state.replicas;
  const before = b.status.replicas?.failed ?? 0;
  b.status.replicas = { ...r };
  b.status.readyReplicas = `${r.running}/${r.desired}`;
  if (r.failed > before && state.kind !== "Failed") {
    const why = lastPodFailure(pods) ?? "a pod failed";
    b.event({
      type: "Warning",
      reason: "PodFailed",
      message: `${why}; retrying (${r.failed} of backoffLimit ${job.spec.runPolicy.backoffLimit})`,
    });
  }
  const running = runningMessage(r, where);
  switch (state.kind) {
    case "Starting":
      reportStarting(b, r);
      break;
    case "Running":
      b.setPhase("Running", { type: "Normal", reason: "Running", message: running });
      b.condition({ type: CONDITION.Running, status: "True", reason: RUNNING.AllReplicasRunning, message: running });
      b.condition({ type: CONDITION.Suspended, status: "False", ...SUSPENDED.Resumed });
      break;
    case "Suspended":
      b.setPhase("Suspended", {
        type: "Normal",
        reason: "Suspended",
        message: `the pods on ${where} were stopped; the placement is kept`,
      });
      b.condition({ type: CONDITION.Suspended, status: "True", ...SUSPENDED.JobSuspended });
      b.condition({ type: CONDITION.Running, status: "False", ...RUNNING.Suspended });
      break;
    case "Succeeded":
      finish(b, "Succeeded", "JobSucceeded", `all ${r.desired} replicas succeeded on ${where}`);
      break;
    case "Failed":
      finish(b, "Failed", state.reason, state.message);
      break;
  }
}

function runningMessage(r: Replicas, where: string): string {
  return `${r.running}/${r.desired} replicas running on ${where}`;
}

/** Phase Starting and Running=False with the replicas running so far on the placement's cluster. */
export function reportStarting(b: StatusBuilder, r: Replicas): void {
  b.setPhase("Starting");
  const message = runningMessage(r, b.status.placement?.cluster ?? "");
  b.condition({ type: CONDITION.Running, status: "False", reason: RUNNING.Starting, message });
}

/** Ends the job: phase, the matching condition, Running False, and the completion time. */
export function finish(b: StatusBuilder, phase: "Succeeded" | "Failed", reason: string, message: string): void {
  b.setPhase(phase, { type: phase === "Succeeded" ? "Normal" : "Warning", reason: phase, message });
  b.condition({ type: phase, status: "True", reason, message });
  b.condition({ type: CONDITION.Running, status: "False", reason, message });
  b.status.completionTime ??= b.now.toISOString();
}
