// The conditions generic tools read: Ready (kubectl wait --for=condition=Ready,
// and kstatus when nothing else says), Reconciling and Stalled (kstatus's
// abnormal-true pair, which Flux, kpt and cli-utils' appliers read first).
// They are derived from the rest of the status at the end of every pass, so
// they change only when something they summarize changed: they add no write
// of their own, and a Starting job's replica counts (progress.ts) do not show
// in their messages.
//
// What kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) makes of a
// TrainingJob: Terminating once deleted; InProgress while status.observedGeneration
// is behind metadata.generation; then the first of Reconciling=True (InProgress)
// and Stalled=True (Failed) in the list; then Ready (True: Current, False:
// InProgress). The two are never True together.

import { BLOCKED, CONDITION, FAILED_OVER, PLACED, READY, RUNNING, STALLED, SUSPENDED } from "../../api/conditions.ts";
import type { TrainingJobPhase, TrainingJobStatus } from "../../api/trainingjob.ts";
import type { PlacementOutcome } from "../../placement/index.ts";
import { type Condition, type ConditionInput, findCondition } from "../conditions.ts";
import type { StatusBuilder } from "./status.ts";

/**
 * How long ReconcileError may hold before the job is Stalled: the work queue's longest retry delay
 * (5 min), so the pass has failed at every backoff step up to it and retrying alone is not clearing it.
 */
export const STALLED_AFTER_MS = 300_000;

/** Placed=False reasons that only a change of the job's spec (or a new ComputeCluster) clears. */
const STALLED_PLACEMENT: ReadonlySet<string> = new Set<PlacementOutcome | string>([
  "InvalidRequest",
  "NoClusterAllowed",
  PLACED.ClusterNotFound,
]);

/** WorkloadBlocked reasons that stall the job: all but Unschedulable, which a move (CapacityLost) resolves. */
const STALLED_BLOCKED: ReadonlySet<string> = new Set<string>([
  BLOCKED.JobRefused,
  BLOCKED.PodsRefused,
  BLOCKED.ImagePullFailed,
  BLOCKED.ContainerConfigError,
]);

/** Phases in which the operator is bringing the job to run: Reconciling=True. */
const WORKING: ReadonlySet<TrainingJobPhase> = new Set<TrainingJobPhase>([
  "Pending",
  "Placing",
  "Scaling",
  "Starting",
  "FailingOver",
]);

/** Ready, and Reconciling or Stalled when they hold (absent otherwise: kstatus reads absence as normal). */
export interface Readiness {
  readonly ready: ConditionInput;
  readonly reconciling?: ConditionInput;
  readonly stalled?: ConditionInput;
}

/** The Ready, Reconciling and Stalled conditions `status` calls for at `now`. Pure. */
export function readinessOf(status: TrainingJobStatus, now: Date): Readiness {
  const conditions = status.conditions as readonly Condition[] | undefined;
  const phase = status.phase ?? "Pending";
  const ready = readyOf(status, phase, conditions);
  const stalled = stalledOf(phase, conditions, now);
  if (stalled) return { ready, stalled };
  // A job not running for a reason the operator is working on (its cluster not answering yet, a move
  // under way) is Reconciling; Suspended waits for the user and Failed is over, neither is.
  const working = ready.status === "False" && (WORKING.has(phase) || phase === "Running");
  if (!working) return { ready };
  return { ready, reconciling: { ...ready, type: CONDITION.Reconciling, status: "True" } };
}

function readyOf(
  status: TrainingJobStatus,
  phase: TrainingJobPhase,
  conditions?: readonly Condition[],
): ConditionInput {
  const type = CONDITION.Ready;
  const running = findCondition(conditions, CONDITION.Running);
  const said = (t: string, fallback: string) => findCondition(conditions, t)?.message || fallback;
  switch (phase) {
    case "Succeeded":
      return { type, status: "True", reason: READY.Succeeded, message: said(CONDITION.Succeeded, "the job succeeded") };
    case "Running":
      if (running?.status === "True") return { type, status: "True", reason: READY.Running, message: running.message };
      return {
        type,
        status: "False",
        reason: running?.reason || "NotRunning",
        message: running?.message || "not every replica is running",
      };
    case "Failed":
      return { type, status: "False", reason: phase, message: said(CONDITION.Failed, "the job failed") };
    case "Suspended":
      return {
        type,
        status: "False",
        reason: phase,
        message: said(CONDITION.Suspended, SUSPENDED.JobSuspended.message),
      };
    case "FailingOver":
      return { type, status: "False", reason: phase, message: said(CONDITION.FailedOver, "moving to another cluster") };
    case "Starting":
      return { type, status: "False", reason: phase, message: startingMessage(status, running) };
    default:
      return { type, status: "False", reason: phase, message: said(CONDITION.Placed, "waiting to be placed") };
  }
}

/**
 * What a Starting job waits for. While its replicas come up, a message without their count, which
 * changes every few seconds and is written only every STARTING_PROGRESS_MS (progress.ts); else what
 * the Running condition says holds it (a refused launch, its cluster not answering).
 */
function startingMessage(status: TrainingJobStatus, running: Condition | undefined): string {
  if (running && running.reason !== RUNNING.Starting && running.message) return running.message;
  const desired = status.replicas?.desired;
  const where = status.placement?.cluster;
  return `waiting for ${desired === undefined ? "all" : `all ${desired}`} replicas to run${where ? ` on ${where}` : ""}`;
}

/** Stalled: the job cannot go on until someone changes something; undefined when it can. */
function stalledOf(phase: TrainingJobPhase, conditions: readonly Condition[] | undefined, now: Date) {
  const stalled = (c: Pick<Condition, "reason" | "message">): ConditionInput => ({
    type: CONDITION.Stalled,
    status: "True",
    reason: c.reason,
    message: c.message,
  });
  const holds = (type: string) => {
    const c = findCondition(conditions, type);
    return c?.status === "True" ? c : undefined;
  };
  const failed = holds(CONDITION.Failed);
  if (phase === "Failed") return stalled(failed ?? { reason: "Failed", message: "the job failed" });
  const error = holds(CONDITION.ReconcileError);
  const since = Date.parse(error?.lastTransitionTime ?? "");
  if (error && Number.isFinite(since) && now.getTime() - since >= STALLED_AFTER_MS) {
    const message = `every pass since ${error.lastTransitionTime} failed: ${error.message}`;
    return stalled({ reason: STALLED.ReconcileErrorPersists, message });
  }
  const placed = findCondition(conditions, CONDITION.Placed);
  if (phase === "Pending" && placed?.status === "False" && STALLED_PLACEMENT.has(placed.reason)) return stalled(placed);
  const blocked = holds(CONDITION.WorkloadBlocked);
  if (blocked && STALLED_BLOCKED.has(blocked.reason)) return stalled(blocked);
  // Its cluster or capacity is lost and failover is off: the job stays where it cannot run.
  const failover = findCondition(conditions, CONDITION.FailedOver);
  const running = findCondition(conditions, CONDITION.Running);
  if (failover?.status === "False" && failover.reason === FAILED_OVER.FailoverDisabled && running?.status !== "True")
    return stalled(failover);
  return undefined;
}

/** Sets Ready, and Reconciling and Stalled when they hold (removing them when they do not), on the pass's status. */
export function reportReadiness(b: StatusBuilder): void {
  const r = readinessOf(b.status, b.now);
  b.condition(r.ready);
  for (const [type, c] of [
    [CONDITION.Reconciling, r.reconciling],
    [CONDITION.Stalled, r.stalled],
  ] as const) {
    if (c) b.condition(c);
    else if (b.status.conditions?.some((x) => x.type === type))
      b.status.conditions = b.status.conditions.filter((x) => x.type !== type);
  }
}
