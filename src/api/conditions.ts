// The condition types of a TrainingJob and the reasons the operator gives for
// them, kept beside the API types so status readers (kubectl, Argo CD health,
// kstatus, tests) and the controller use one vocabulary. Messages that are
// always the same come with their reason as a pair.

/** Condition types of a TrainingJob (API.md). */
export const CONDITION = {
  Placed: "Placed",
  Running: "Running",
  CheckpointReplicated: "CheckpointReplicated",
  /** With spec.checkpoint.localDir: False (UploadStuck) when a step finished on a pod's disk stays uncommitted too long. */
  CheckpointUploaded: "CheckpointUploaded",
  FailedOver: "FailedOver",
  ReconcileError: "ReconcileError",
  /** True while the worker refuses or cannot start the job's workload (reason: the cause); absent otherwise. */
  WorkloadBlocked: "WorkloadBlocked",
  /** False while the running worker Job was rendered differently from what the operator would render now. */
  WorkloadUpToDate: "WorkloadUpToDate",
  Succeeded: "Succeeded",
  Failed: "Failed",
  Suspended: "Suspended",
  /** With a Kueue queue label: True once Kueue admitted the job's Workload; False with Kueue's reason while it waits or after an eviction. */
  Admitted: "Admitted",
  /**
   * True while the job is Running with every replica ready, and once it Succeeded; False otherwise,
   * with the phase (or, for a Running job that is not ready, the Running condition's reason) as reason.
   */
  Ready: "Ready",
  /** kstatus's abnormal-true condition: True while the operator is still bringing the job to run; absent otherwise. */
  Reconciling: "Reconciling",
  /** kstatus's abnormal-true condition: True while the job cannot go on without a change by someone; absent otherwise. */
  Stalled: "Stalled",
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
  /** Between two placements: the last one's workload is removed, the next is not placed yet. */
  NotPlaced: "NotPlaced",
} as const;

/** Reasons of the Placed condition besides the placement outcomes (NoClusterAllowed, InsufficientCapacity, ...). */
export const PLACED = {
  Placed: "Placed",
  /** No entry of spec.placement.clusters names an existing ComputeCluster. */
  ClusterNotFound: "ClusterNotFound",
  /** The last placement's workload (replaced for an edit) is being removed; the next epoch is placed once it is gone. */
  PreviousEpochStopping: "PreviousEpochStopping",
  /** A scale-up waits: the cluster's cloud API is slow to answer, or busy with other jobs' calls (scale.ts). */
  CloudAPIBusy: "CloudAPIBusy",
} as const;

/** Reasons of the WorkloadBlocked condition (also Running=False's while the job is Starting) and of its events. */
export const BLOCKED = {
  /** The worker refused the Job or another workload object (admission webhook, policy, quota, invalid). */
  JobRefused: "JobRefused",
  /** The Job controller cannot create the pods (FailedCreate: Pod Security, quota, a webhook on pods). */
  PodsRefused: "PodsRefused",
  ImagePullFailed: "ImagePullFailed",
  /** A container cannot be created (CreateContainerConfigError: a missing Secret or ConfigMap). */
  ContainerConfigError: "ContainerConfigError",
  /** Pods stay unschedulable although placement found room for them. */
  Unschedulable: "Unschedulable",
} as const;
export type BlockedReason = (typeof BLOCKED)[keyof typeof BLOCKED];

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

/** Reasons of Ready=True; Ready=False's reason is the phase, or the Running condition's reason in phase Running. */
export const READY = {
  /** Phase Running with every replica ready; the message is the Running condition's. */
  Running: "Running",
  /** Phase Succeeded; the message is the Succeeded condition's. */
  Succeeded: "Succeeded",
} as const;

/**
 * Reasons of Stalled=True besides those it takes from another condition (the Failed condition's, the
 * Placed condition's NoClusterAllowed, InvalidRequest and ClusterNotFound, WorkloadBlocked's but
 * Unschedulable, FailedOver's FailoverDisabled).
 */
export const STALLED = {
  /** ReconcileError has held for STALLED_AFTER_MS: retrying with backoff has not cleared it. */
  ReconcileErrorPersists: "ReconcileErrorPersists",
} as const;

/** Reasons of a ComputeCluster's Ready condition (Ready=False also SecretOutsideOperatorNamespace, src/clusters/secret-refs.ts). */
export const CLUSTER_READY = {
  Ready: "Ready",
  Unreachable: "Unreachable",
  InvalidPrices: "InvalidPrices",
  NoAcceleratorNodeGroups: "NoAcceleratorNodeGroups",
} as const;

/** Event reasons of a move. */
export const FAILOVER_EVENT = {
  Started: "FailoverStarted",
  Done: "FailedOver",
  Fenced: "OldEpochRemoved",
  Disabled: "FailoverDisabled",
} as const;
