// When a TrainingJob must move (pure): its cluster has not answered for
// clusterLostTimeout (ClusterLost), its pods have stayed unschedulable for
// unschedulableTimeout after its capacity went (CapacityLost), or its cluster
// is draining (Drained). Also what the job's move history means for fencing:
// the lineage of epochs and the step each resumed from.

import type { V1Pod } from "@kubernetes/client-node";
import type { ComputeCluster, NodeGroupStatus } from "../../api/computecluster.ts";
import { durationMs } from "../../api/schema.ts";
import type { FailoverReason, TrainingJob, TrainingJobStatus } from "../../api/trainingjob.ts";
import type { EpochStart } from "../../checkpoint/fence.ts";
import { findCondition } from "../conditions.ts";

export type FailoverRecord = NonNullable<TrainingJobStatus["failovers"]>[number];

/** What the triggers see of a job's cluster and pods. */
export type Trigger =
  | { readonly kind: "None" }
  /** Not yet: look again after `leftMs`. */
  | { readonly kind: "Waiting"; readonly reason: FailoverReason; readonly leftMs: number; readonly message: string }
  /** Move now; `at` is when the trouble began. */
  | { readonly kind: "Move"; readonly reason: FailoverReason; readonly at: Date; readonly message: string };

/** The job's failover timeouts in milliseconds, from spec.failover (defaults where a value does not parse). */
export function failoverTimeouts(job: TrainingJob): { clusterLost: number; unschedulable: number; drain: number } {
  const f = job.spec.failover;
  return {
    clusterLost: durationMs(f.clusterLostTimeout) ?? 60_000,
    unschedulable: durationMs(f.unschedulableTimeout ?? "5m") ?? 300_000,
    drain: durationMs(f.drainCheckpointTimeout ?? "10m") ?? 600_000,
  };
}

/** False when the ComputeCluster's last heartbeat failed (Reachable=False): calls to it would hang or fail. */
export function clusterAnswers(cc: ComputeCluster): boolean {
  return findCondition(cc.status?.conditions as never, "Reachable")?.status !== "False";
}

/** ClusterLost: the cluster's heartbeat fails and it was last reached longer than `timeoutMs` ago. */
export function clusterLostTrigger(cc: ComputeCluster, now: Date, timeoutMs: number): Trigger {
  if (clusterAnswers(cc)) return { kind: "None" };
  const name = cc.metadata.name ?? "";
  const reachable = findCondition(cc.status?.conditions as never, "Reachable");
  const last = Date.parse(cc.status?.lastHeartbeatTime ?? reachable?.lastTransitionTime ?? "");
  const lastReached = Number.isFinite(last) ? new Date(last) : now;
  const why = `${name} has not answered since ${lastReached.toISOString()} (${reachable?.message ?? "unreachable"})`;
  return afterTimeout("ClusterLost", lastReached, timeoutMs, now, why, "clusterLostTimeout");
}

/** Waiting until `since` + `timeoutMs` (the setting named `knob`), then Move with `at` = `since`. */
function afterTimeout(
  reason: FailoverReason,
  since: Date,
  timeoutMs: number,
  now: Date,
  why: string,
  knob: string,
  more = "",
): Trigger {
  const leftMs = since.getTime() + timeoutMs - now.getTime();
  const seconds = timeoutMs / 1000;
  if (leftMs > 0) return { kind: "Waiting", reason, leftMs, message: `${why}; ${knob} is ${seconds}s` };
  return { kind: "Move", reason, at: since, message: `${why}, longer than ${knob} (${seconds}s)${more}` };
}

/** Drained: the cluster has spec.drain. */
export function drainTrigger(cc: ComputeCluster, now: Date): Trigger {
  if (cc.spec.drain !== true) return { kind: "None" };
  return {
    kind: "Move",
    reason: "Drained",
    at: now,
    message: `ComputeCluster ${cc.metadata.name} has spec.drain: true`,
  };
}

function unschedulableSince(pod: V1Pod): number | undefined {
  if (pod.status?.phase !== "Pending" || pod.metadata?.deletionTimestamp) return undefined;
  const c = pod.status.conditions?.find((x) => x.type === "PodScheduled");
  if (c?.status !== "False" || c.reason !== "Unschedulable") return undefined;
  const at = new Date(c.lastTransitionTime ?? pod.metadata?.creationTimestamp ?? "").getTime();
  return Number.isFinite(at) ? at : undefined;
}

/**
 * CapacityLost: some of the placement's pods have been unschedulable for longer than `timeoutMs`
 * (their nodes were reclaimed or never came) and the node group is not growing (its desired size is
 * not above the nodes it has). A group that is growing is waited for.
 */
export function capacityLostTrigger(
  pods: readonly V1Pod[],
  group: NodeGroupStatus | undefined,
  now: Date,
  timeoutMs: number,
): Trigger {
  const since = pods.map(unschedulableSince).filter((t): t is number => t !== undefined);
  if (since.length === 0) return { kind: "None" };
  const first = Math.min(...since);
  const where = group?.name ?? "its node group";
  const disrupted = pods.some((p) =>
    p.status?.conditions?.some((c) => c.type === "DisruptionTarget" && c.status === "True"),
  );
  const why = `${since.length} pod(s) unschedulable on ${where} since ${new Date(first).toISOString()}${disrupted ? " after a disruption" : ""}`;
  // A group the cloud is growing is waited for, but not forever: at most one more unschedulableTimeout.
  const growing = (group?.desiredSize ?? 0) > (group?.nodes ?? 0) && now.getTime() < first + 2 * timeoutMs;
  if (growing) {
    return {
      kind: "Waiting",
      reason: "CapacityLost",
      leftMs: 10_000,
      message: `${why}; ${where} is growing to ${group?.desiredSize} nodes`,
    };
  }
  const notGrowing = `, and ${where} is not growing`;
  return afterTimeout("CapacityLost", new Date(first), timeoutMs, now, why, "unschedulableTimeout", notGrowing);
}

/** The move under way: the newest failover record whose new epoch has not reached Running. */
export function currentMove(status: TrainingJobStatus): FailoverRecord | undefined {
  const last = status.failovers?.at(-1);
  return last && !last.runningAt ? last : undefined;
}

/** The epochs that started by a move (launched), with the step each resumed from: the fence's lineage. */
export function lineageOf(status: TrainingJobStatus): EpochStart[] {
  return (status.failovers ?? [])
    .filter((f) => f.launchedAt && f.epoch !== undefined)
    .map((f) => ({
      epoch: f.epoch ?? 0,
      ...(f.resumedFromStep !== undefined ? { resumedFromStep: f.resumedFromStep } : {}),
    }));
}

/** Seconds of training lost by a move: the trigger time minus when the resumed step was committed (or the job started). */
export function lostWorkSeconds(at: Date, resumedCommittedAt: Date | undefined, startTime: string | undefined): number {
  const from = resumedCommittedAt?.getTime() ?? Date.parse(startTime ?? "");
  if (!Number.isFinite(from)) return 0;
  return Math.max(0, Math.round((at.getTime() - from) / 1000));
}

/** "<cluster>/<nodeGroup>" as failover records write it, split. */
export function splitWhere(where: string | undefined): { cluster: string; nodeGroup: string } {
  const [cluster = "", nodeGroup = ""] = (where ?? "").split("/");
  return { cluster, nodeGroup };
}
