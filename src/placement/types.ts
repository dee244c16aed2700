// The placement function's own vocabulary: what a job asks for, the snapshot
// of clusters it is decided against (field names of ComputeCluster status, so
// the controller maps them 1:1), and the decision with its reasons.

import type { Cloud } from "../catalog/instance-types.ts";

/** Reserved: capacity paid for whether used or not (EKS Capacity Blocks, Karpenter `reserved`). */
export type CapacityType = "OnDemand" | "Spot" | "Reserved";
/** OnDemand accepts OnDemand and Reserved groups; Spot only Spot; Reserved only Reserved; Any all. */
export type CapacityTypeRequest = CapacityType | "Any";
export type Strategy = "LowestCost" | "Preference";
/** None: domains are ignored; Preferred: as few domains as possible; Required: one domain. */
export type Topology = "None" | "Preferred" | "Required";

/**
 * The node label that names a fast-interconnect domain: `nvidia.com/gpu.clique` (a GB200/GB300 NVLink
 * domain) or `neuron.amazonaws.com/ultraserver-server-id-4` (a Trn2 UltraServer).
 */
export type DomainKey = string;

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
  /** How replicas spread over a group's domains; absent: None. */
  readonly topology?: Topology;
}

/** One domain of a node group: the nodes that carry `key` with the value `name`. */
export interface DomainSnapshot {
  readonly key: DomainKey;
  readonly name: string;
  readonly nodes: number;
  readonly readyNodes: number;
  /** Free as the group's freeNodes: ready, every device unallocated (less nodes promised to other jobs). */
  readonly freeNodes: number;
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
  /** The group's domains (NVLink cliques, UltraServers) by name; absent or empty: none known. */
  readonly domains?: readonly DomainSnapshot[];
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
  | "InsufficientCapacity"
  /** topology Required: more replicas than the group's largest domain has nodes. */
  | "LargerThanDomain";

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
  /** Ranking cost: price (0 on Reserved capacity) plus the amortized cost of moving the checkpoint here. */
  readonly effectiveMicros?: number;
  /** topology Preferred or Required on a group with domains: the domains chosen, for the render. */
  readonly domains?: { readonly key: DomainKey; readonly names: readonly string[] };
  /** How the domains were chosen, in words (e.g. which clique and why the others lost). */
  readonly topologyReason?: string;
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
