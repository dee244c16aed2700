// The placement function's own vocabulary: what a job asks for, the snapshot
// of clusters it is decided against (field names of ComputeCluster status, so
// the controller maps them 1:1), and the decision with its reasons.

import type { Cloud } from "../catalog/instance-types.ts";

export type CapacityType = "OnDemand" | "Spot";
export type CapacityTypeRequest = CapacityType | "Any";
export type Strategy = "LowestCost" | "Preference";

/** One acceptable accelerator, as in TrainingJob `spec.accelerators[]`. */
export interface AcceleratorOption {
  readonly type: string;
  /** Devices per pod; one pod runs per node, so a node needs at least this many. */
  readonly perReplica: number;
}

/** Where the newest committed checkpoint is, so placement can favour not moving it. */
export interface CheckpointLocation {
  /** ComputeCluster names whose store holds the newest committed step. */
  readonly clusters: readonly string[];
  readonly sizeBytes: number;
}

/** A node group that an earlier attempt chose and that did not work out (nodes never came). */
export interface ExcludedGroup {
  readonly cluster: string;
  readonly nodeGroup: string;
}

/** What a TrainingJob asks of placement. */
export interface PlacementRequest {
  /** Pods, one per node. */
  readonly replicas: number;
  /** Acceptable accelerators, most preferred first. */
  readonly accelerators: readonly AcceleratorOption[];
  /** Allowed clouds; empty or absent: all. */
  readonly clouds?: readonly Cloud[];
  /** Allowed ComputeCluster names; empty or absent: all. */
  readonly clusters?: readonly string[];
  readonly capacityType: CapacityTypeRequest;
  readonly strategy: Strategy;
  readonly checkpoint?: CheckpointLocation;
  /** Groups not to choose again (their scale-up timed out). */
  readonly exclude?: readonly ExcludedGroup[];
}

/** One node group of a ComputeCluster's `status.nodeGroups`. */
export interface NodeGroupSnapshot {
  readonly name: string;
  readonly instanceType: string;
  readonly accelerator: string;
  readonly devicesPerNode: number;
  readonly capacityType: CapacityType;
  readonly nodes: number;
  readonly readyNodes: number;
  /** Ready nodes whose devices are all unallocated. */
  readonly freeNodes: number;
  readonly minSize: number;
  readonly maxSize: number;
  readonly desiredSize: number;
  /** $/node-hour after the cluster's overrides, as a decimal string; absent when unknown. */
  readonly pricePerHour?: string;
  /** A cluster autoscaler or Karpenter owns the group's size: the operator never scales it. */
  readonly autoscalerOwned: boolean;
}

/** One ComputeCluster as placement sees it. */
export interface ClusterSnapshot {
  readonly name: string;
  readonly cloud: Cloud;
  /** The Ready condition is True. */
  readonly ready: boolean;
  /** `spec.paused`: no new placements. */
  readonly paused: boolean;
  readonly nodeGroups: readonly NodeGroupSnapshot[];
}

/**
 * The decision's outcome, ordered from best to worst (like Kueue's); each
 * value is the reason of the TrainingJob's `Placed` condition.
 */
export const PLACEMENT_OUTCOMES = [
  "Placed",
  "NeedsScaleUp",
  "InsufficientCapacity",
  "NoCapacityTypeMatch",
  "NoClusterOffersAccelerator",
  "AllClustersUnavailable",
  "NoClusterAllowed",
  "InvalidRequest",
] as const;
export type PlacementOutcome = (typeof PLACEMENT_OUTCOMES)[number];

/** Why one node group (or a whole cluster) cannot take the job. */
export type RejectionReason =
  | "CloudNotAllowed"
  | "ClusterNotAllowed"
  | "ClusterPaused"
  | "ClusterNotReady"
  | "AcceleratorNotRequested"
  | "TooFewDevicesPerNode"
  | "CapacityTypeNotAllowed"
  | "PreviouslyFailed"
  | "AutoscalerOwned"
  | "InsufficientCapacity";

export interface Rejection {
  readonly cluster: string;
  /** Absent when the whole cluster was rejected. */
  readonly nodeGroup?: string;
  readonly reason: RejectionReason;
  readonly message: string;
}

/** A node group that can take the job, now or after a scale-up. */
export interface Candidate {
  readonly cluster: string;
  readonly cloud: Cloud;
  readonly nodeGroup: string;
  readonly instanceType: string;
  readonly accelerator: string;
  readonly perReplica: number;
  readonly capacityType: CapacityType;
  /** Index of the accelerator option in the request (0: most preferred). */
  readonly preference: number;
  readonly nodesNeeded: number;
  readonly freeNodes: number;
  readonly maxSize: number;
  readonly fit: "Now" | "AfterScaleUp";
  /** The desired size to ask the cloud for when `fit` is AfterScaleUp. */
  readonly scaleUpTo?: number;
  /** Whole-job $/hour (node price x nodes); absent when the price is unknown. */
  readonly pricePerHour?: string;
  /** The same in micro-dollars, for ranking. */
  readonly priceMicros?: number;
  /** The cluster's store already holds the newest checkpoint. */
  readonly hasCheckpoint: boolean;
  /** Ranking cost: price plus the amortized cost of moving the checkpoint here. */
  readonly effectiveMicros?: number;
}

/** The result of `placeJob`: an outcome, the winner if any, and why. */
export interface PlacementDecision {
  readonly outcome: PlacementOutcome;
  readonly winner?: Candidate;
  /** Every candidate, best first (the winner is ranked[0]). */
  readonly ranked: readonly Candidate[];
  readonly rejected: readonly Rejection[];
  /** Why the winner won, or why nothing could be chosen: for status.placement.reason and the Event. */
  readonly reason: string;
  /** One line per other option saying why it lost, in words a person can act on. */
  readonly explanations: readonly string[];
}
