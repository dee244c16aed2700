// The TrainingJob's status schema: what the operator writes (phase,
// conditions, placement, replicas, checkpoints, failovers, scale-ups), kept
// apart from the spec the user writes (trainingjob.ts re-exports it).

import { acceleratorTypeSchema, CAPACITY_TYPES, cloudSchema, conditionsOf, price, timestamp } from "./common.ts";
import { array, enumOf, integer, object, string } from "./schema.ts";

export const TRAINING_JOB_PHASES = [
  "Pending",
  "Placing",
  "Scaling",
  "Starting",
  "Running",
  "FailingOver",
  "Suspended",
  "Succeeded",
  "Failed",
] as const;
export type TrainingJobPhase = (typeof TRAINING_JOB_PHASES)[number];

const placementStatus = object("Where the current placement runs and why it was chosen.", {
  cluster: string("The ComputeCluster the job runs on."),
  cloud: cloudSchema("The cloud of that cluster."),
  accelerator: acceleratorTypeSchema("The accelerator option chosen."),
  instanceType: string("The instance type of the node group."),
  nodeGroup: string("The EKS node group or AKS agent pool."),
  capacityType: enumOf("The capacity its nodes are: OnDemand, Spot or Reserved.", CAPACITY_TYPES),
  domainKey: string(
    "With spec.placement.topology Preferred or Required: the node label naming the domains the job was placed in (nvidia.com/gpu.clique or neuron.amazonaws.com/ultraserver-server-id-4). Absent when domains played no part.",
    { maxLength: 317 },
  ),
  domains: array(
    "The domains (values of domainKey) the placement chose, as few as hold the replicas: exactly one with topology Required.",
    string("A domain: the value of the domainKey label on its nodes.", { maxLength: 63 }),
    { maxItems: 1024 },
  ),
  pricePerHour: price("The whole job's price per hour in USD (catalog or ComputeCluster override, times nodes)."),
  reason: string("Why this option won, and why the others lost, in words."),
  placedAt: timestamp("When the placement was made."),
});

const replicasStatus = object("Counts of the current placement's pods.", {
  desired: integer("Pods the job wants.", { minimum: 0 }),
  running: integer("Pods running and ready.", { minimum: 0 }),
  succeeded: integer("Pods finished successfully.", { minimum: 0 }),
  failed: integer("Pods failed in this placement.", { minimum: 0 }),
});

const storeStatus = object("The newest committed step in one cluster's checkpoint store.", {
  cluster: string("The ComputeCluster the store belongs to."),
  uri: string("The store URI with the job's prefix (s3://... or https://<account>.blob.core.windows.net/...)."),
  latestStep: integer("The newest committed (manifest written) step in this store.", { minimum: 0, format: "int64" }),
  committedAt: timestamp("When that step was committed in this store."),
});

const agentStatus = object("What one pod's checkpoint agent last reported (spec.checkpoint.localDir).", {
  replica: integer("The pod's replica index.", { minimum: 0 }),
  newestLocalStep: integer("The newest step finished on the pod's local disk.", { minimum: 0, format: "int64" }),
  newestUploadedStep: integer("The newest step whose files this pod uploaded.", { minimum: 0, format: "int64" }),
  lagSteps: integer("Upload lag: the newest local step minus the newest committed step (0: nothing to upload).", {
    minimum: 0,
    format: "int64",
  }),
  pendingStep: integer("The oldest step finished on local disk and not committed yet.", {
    minimum: 0,
    format: "int64",
  }),
  pendingSince: timestamp("When the agent found that step finished."),
  lastError: string("The agent's last upload, commit or restore error, until that step moves on."),
  reportedAt: timestamp("When the agent's report last changed."),
});

export const FAILOVER_REASONS = ["ClusterLost", "CapacityLost", "Drained"] as const;
export type FailoverReason = (typeof FAILOVER_REASONS)[number];

const failoverRecord = object("One move of the job from a cluster to another.", {
  epoch: integer("The epoch of the new placement.", { minimum: 1 }),
  from: string("Where the job was: <cluster>/<nodeGroup>."),
  to: string("Where the job moved: <cluster>/<nodeGroup>; absent while a target is being found."),
  reason: enumOf(
    "Why: ClusterLost (its cluster did not answer for clusterLostTimeout), CapacityLost (its nodes were reclaimed and replacements stayed unschedulable for unschedulableTimeout) or Drained (its ComputeCluster has spec.drain).",
    FAILOVER_REASONS,
  ),
  at: timestamp(
    "When the failover started: when the trigger fired (the cluster was last reached, the capacity was lost, the drain was seen).",
  ),
  newestStepAtStart: integer("The newest committed step known when the move started (a drain waits for a newer one).", {
    minimum: 0,
    format: "int64",
  }),
  launchedAt: timestamp("When the new epoch's workload was created on the target."),
  runningAt: timestamp("When the new epoch had all its replicas running."),
  resumedFromStep: integer("The checkpoint step the new epoch resumed from; absent: it started from scratch.", {
    minimum: 0,
    format: "int64",
  }),
  lostWorkSeconds: integer(
    "Training time redone: when the trigger fired minus when the resumed step was committed (since the job started, when no step was resumed).",
    { minimum: 0, format: "int64" },
  ),
});

const scaleUpStatus = object(
  "The node-group scale-up the job waits for (phase Scaling): what the operator asked the cloud for, and when.",
  {
    cluster: string("The ComputeCluster whose node group is growing."),
    nodeGroup: string("The EKS node group or AKS agent pool."),
    targetSize: integer("The desired size asked for.", { minimum: 0 }),
    operation: string("The cloud's id of the scale operation (EKS update id; derived for AKS)."),
    requestedAt: timestamp("When it was asked for; the scale-up timeout counts from here."),
  },
);

const grownNodeGroup = object(
  "A node group the operator grew for this job: given back (scaled down to what still runs there, never below fromSize) when the job finishes, moves off it or gives up on it.",
  {
    cluster: string("The ComputeCluster."),
    nodeGroup: string("The EKS node group or AKS agent pool."),
    fromSize: integer("The desired size the operator found before it asked for more.", { minimum: 0 }),
    toSize: integer("The desired size it asked for.", { minimum: 0 }),
    at: timestamp("When it asked."),
  },
);

const excludedNodeGroup = object("A node group placement no longer considers for this job.", {
  cluster: string("The ComputeCluster."),
  nodeGroup: string("The node group."),
  reason: string("Why: ScaleUpTimedOut (nodes did not arrive in time) or ScaleUpRefused (the cloud refused it)."),
  at: timestamp("When it was excluded."),
});

const queueStatus = object(
  "With the label kueue.x-k8s.io/queue-name: the job's Kueue queue and Workload, and what Kueue admitted it with (the Admitted condition says whether it is admitted, with Kueue's reason).",
  {
    name: string("The LocalQueue (the label's value)."),
    workload: string("The Kueue Workload the operator made for the job, in the job's namespace."),
    clusterQueue: string("The ClusterQueue that admitted it last."),
    flavors: array("The ResourceFlavors it was admitted with last.", string("A ResourceFlavor."), { maxItems: 8 }),
  },
);

export const trainingJobStatus = object("The job's observed state, written by the operator.", {
  phase: enumOf(
    "Pending, Placing, Scaling, Starting, Running, FailingOver, Suspended, Succeeded or Failed.",
    TRAINING_JOB_PHASES,
  ),
  observedGeneration: integer("The metadata.generation this status describes.", { minimum: 0, format: "int64" }),
  conditions: conditionsOf(
    "Placed, Running, CheckpointReplicated, CheckpointUploaded (with checkpoint.localDir: False with reason UploadStuck when a step finished on a pod's disk stays uncommitted longer than CHECKPOINT_UPLOAD_STUCK_SECONDS), FailedOver, WorkloadBlocked, WorkloadUpToDate, Suspended, Succeeded, Failed, ReconcileError, Admitted (with a Kueue queue label: True once Kueue admitted the job, else False with Kueue's reason and message), and three that generic tools read. Ready: True while Running with every replica ready and once Succeeded, else False with the phase as reason (in phase Running, the Running condition's reason). Stalled: True while the job cannot go on without a change: Failed; not placed for NoClusterAllowed, InvalidRequest or ClusterNotFound; WorkloadBlocked for any reason but Unschedulable; its cluster or capacity lost with failover off; a ReconcileError held for 5 minutes. Reconciling: True while the operator brings the job to run (phases Pending, Placing, Scaling, Starting, FailingOver, and Running while not ready) and it is not Stalled. Reconciling and Stalled are absent when they do not hold. kstatus (Flux, kpt): Failed when Stalled, else Current when Ready, else InProgress; InProgress too while observedGeneration is behind metadata.generation.",
  ),
  epoch: integer("The placement's epoch: 1 for the first placement, one more after each failover.", { minimum: 0 }),
  placement: placementStatus,
  queue: queueStatus,
  scaleUp: scaleUpStatus,
  excludedNodeGroups: array(
    "Node groups not chosen again for this job, since growing them did not work.",
    excludedNodeGroup,
    { maxItems: 64 },
  ),
  grownNodeGroups: array("Node groups the operator grew for this job and has not given back yet.", grownNodeGroup, {
    maxItems: 16,
  }),
  replicas: replicasStatus,
  readyReplicas: string('Running replicas over desired, as kubectl shows them (e.g. "3/4").'),
  checkpoint: object("The newest committed checkpoint, overall and per store.", {
    latestStep: integer("The newest step committed in any store.", { minimum: 0, format: "int64" }),
    stores: array("Per store, the newest committed step.", storeStatus, { maxItems: 64 }),
    agents: array("Per pod, the checkpoint agent's upload lag (with spec.checkpoint.localDir).", agentStatus, {
      maxItems: 1024,
    }),
  }),
  failovers: array("Every failover of the job, oldest first.", failoverRecord, { maxItems: 128 }),
  startTime: timestamp("When the job's pods first started."),
  completionTime: timestamp("When the job Succeeded or Failed."),
});
