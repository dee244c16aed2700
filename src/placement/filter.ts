// Placement's filters: for every cluster and node group of the snapshot,
// either a candidate that can take the job (now or after a scale-up) or a
// rejection saying which rule ruled it out.

import { formatPrice, parsePrice, times } from "../catalog/money.ts";
import { domainFit } from "./topology.ts";
import type {
  AcceleratorOption,
  Candidate,
  ClusterSnapshot,
  NodeGroupSnapshot,
  PlacementRequest,
  Rejection,
} from "./types.ts";

export type Evaluation =
  | { readonly ok: true; readonly candidate: Candidate }
  | { readonly ok: false; readonly rejection: Rejection };

/** Rejects a whole cluster for the request's limits or its state; undefined when it may be used. */
export function clusterRejection(request: PlacementRequest, cluster: ClusterSnapshot): Rejection | undefined {
  const reject = (reason: Rejection["reason"], message: string): Rejection => ({
    cluster: cluster.name,
    reason,
    message: `${cluster.name}: ${message}`,
  });
  if (request.clouds?.length && !request.clouds.includes(cluster.cloud)) {
    return reject(
      "CloudNotAllowed",
      `cloud ${cluster.cloud} is not in placement.clouds [${request.clouds.join(", ")}]`,
    );
  }
  if (request.clusters?.length && !request.clusters.includes(cluster.name)) {
    return reject("ClusterNotAllowed", `not in placement.clusters [${request.clusters.join(", ")}]`);
  }
  if (cluster.paused) return reject("ClusterPaused", "paused (spec.paused): takes no new placements");
  if (!cluster.ready) return reject("ClusterNotReady", "not Ready: its API or heartbeat is failing");
  return undefined;
}

function groupReject(cluster: ClusterSnapshot, group: NodeGroupSnapshot, reason: Rejection["reason"], message: string) {
  return {
    ok: false as const,
    rejection: {
      cluster: cluster.name,
      nodeGroup: group.name,
      reason,
      message: `${cluster.name}/${group.name}: ${message}`,
    },
  };
}

/** The whole-job price of `nodes` nodes at the group's node-hour price. */
function jobPrice(group: NodeGroupSnapshot, nodes: number): { pricePerHour?: string; priceMicros?: number } {
  const parsed = group.pricePerHour === undefined ? undefined : parsePrice(group.pricePerHour);
  if (!parsed?.ok) return {};
  const total = times(parsed.value, nodes);
  return { pricePerHour: formatPrice(total), priceMicros: total };
}

/** How the group can hold `replicas` nodes: now, after growing to `scaleUpTo`, or not at all (a message). */
function fitOf(group: NodeGroupSnapshot, replicas: number): { fit: Candidate["fit"]; scaleUpTo?: number } | string {
  if (group.freeNodes >= replicas) return { fit: "Now" };
  const missing = replicas - group.freeNodes;
  const scaleUpTo = Math.max(group.desiredSize, group.nodes + missing);
  const shortage = `needs ${replicas} nodes, ${group.freeNodes} free`;
  if (group.autoscalerOwned) {
    return `${shortage}; an autoscaler owns its size, so the operator does not grow it (free nodes or place elsewhere)`;
  }
  if (scaleUpTo > group.maxSize) {
    return `${shortage}, would need ${scaleUpTo} nodes but maxSize is ${group.maxSize} (raise maxSize or free nodes)`;
  }
  return { fit: "AfterScaleUp", scaleUpTo };
}

/** OnDemand takes Reserved groups too (reserved capacity is on-demand capacity already paid for). */
function capacityAllowed(request: PlacementRequest, group: NodeGroupSnapshot): boolean {
  if (request.capacityType === "Any" || request.capacityType === group.capacityType) return true;
  return request.capacityType === "OnDemand" && group.capacityType === "Reserved";
}

/** Evaluates one node group of an allowed, available cluster against the request. */
export function evaluateGroup(
  request: PlacementRequest,
  cluster: ClusterSnapshot,
  group: NodeGroupSnapshot,
): Evaluation {
  const preference = request.accelerators.findIndex((a) => a.type === group.accelerator);
  const option: AcceleratorOption | undefined = request.accelerators[preference];
  if (!option) {
    return groupReject(
      cluster,
      group,
      "AcceleratorNotRequested",
      `offers ${group.accelerator}, which the job does not list`,
    );
  }
  if (option.perReplica > group.devicesPerNode) {
    const message = `${group.instanceType} has ${group.devicesPerNode} ${group.accelerator} devices per node, a replica needs ${option.perReplica} (one pod per node)`;
    return groupReject(cluster, group, "TooFewDevicesPerNode", message);
  }
  if (!capacityAllowed(request, group)) {
    const message = `${group.capacityType} capacity, the job asks for placement.capacityType ${request.capacityType}`;
    return groupReject(cluster, group, "CapacityTypeNotAllowed", message);
  }
  if (request.exclude?.some((e) => e.cluster === cluster.name && e.nodeGroup === group.name)) {
    return groupReject(cluster, group, "PreviouslyFailed", "chosen before and its nodes did not arrive in time");
  }
  const topology = domainFit(request, group);
  if (topology.kind === "Rejected") return groupReject(cluster, group, topology.reason, topology.message);
  if (topology.kind === "Fits") {
    const fit = { fit: "Now" as const };
    const extra = { domains: topology.domains, topologyReason: topology.reason };
    return { ok: true, candidate: { ...candidateOf(request, cluster, group, option, preference, fit), ...extra } };
  }
  const fit = fitOf(group, request.replicas);
  if (typeof fit === "string") {
    return groupReject(cluster, group, group.autoscalerOwned ? "AutoscalerOwned" : "InsufficientCapacity", fit);
  }
  return { ok: true, candidate: candidateOf(request, cluster, group, option, preference, fit) };
}

function candidateOf(
  request: PlacementRequest,
  cluster: ClusterSnapshot,
  group: NodeGroupSnapshot,
  option: AcceleratorOption,
  preference: number,
  fit: { fit: Candidate["fit"]; scaleUpTo?: number },
): Candidate {
  return {
    cluster: cluster.name,
    cloud: cluster.cloud,
    nodeGroup: group.name,
    instanceType: group.instanceType,
    accelerator: group.accelerator,
    perReplica: option.perReplica,
    capacityType: group.capacityType,
    preference,
    nodesNeeded: request.replicas,
    freeNodes: group.freeNodes,
    maxSize: group.maxSize,
    ...fit,
    ...jobPrice(group, request.replicas),
    hasCheckpoint: request.checkpoint?.clusters.includes(cluster.name) ?? false,
  };
}
