// The condition types of a TrainingJob and the reasons the operator gives for
// them, kept beside the API types so status readers (kubectl, Argo CD health,
// tests) and the controller use one vocabulary. Messages that are always the
// same come with their reason as a pair.

/** Condition types of a TrainingJob (API.md). */
export const CONDITION = {
  Placed: "Placed",
  Running: "Running",
  CheckpointReplicated: "CheckpointReplicated",
  FailedOver: "FailedOver",
  ReconcileError: "ReconcileError",
  Succeeded: "Succeeded",
  Failed: "Failed",
  Suspended: "Suspended",
} as const;
export type ConditionType = (typeof CONDITION)[keyof typeof CONDITION];

/** A condition reason with the message it always carries. */
export interface ReasonMessage {
  readonly reason: string;
  readonly message: string;
}

/** Reasons of the Running condition. */
export const RUNNING = {
  ClusterNotConnected: "ClusterNotConnected",
  Starting: "Starting",
  AllReplicasRunning: "AllReplicasRunning",
  Suspended: { reason: "Suspended", message: "suspended" },
  ClusterLost: "ClusterLost",
  CapacityLost: "CapacityLost",
  Drained: "Drained",
  FailingOver: "FailingOver",
} as const;

/** Reasons of the Suspended condition. */
export const SUSPENDED = {
  Resumed: { reason: "Resumed", message: "the job is not suspended" },
  JobSuspended: { reason: "JobSuspended", message: "spec.suspend is true: no pods run" },
} as const satisfies Record<string, ReasonMessage>;

/** Reasons of the FailedOver condition: True after a move, False while one is under way or cannot happen. */
export const FAILED_OVER = {
  FailingOver: "FailingOver",
  FailedOver: "FailedOver",
  FailoverDisabled: "FailoverDisabled",
  NoTarget: "NoTarget",
} as const;

/** Reasons of the Failed condition that the operator (not the worker Job) decides. */
export const FAILED = {
  DeadlineExceeded: "DeadlineExceeded",
  FailoverLimitReached: "FailoverLimitReached",
} as const;

/** Event reasons of a move. */
export const FAILOVER_EVENT = {
  Started: "FailoverStarted",
  Done: "FailedOver",
  Fenced: "OldEpochRemoved",
  Disabled: "FailoverDisabled",
} as const;
