// Places a TrainingJob: maps the hub's ComputeClusters to the placement
// snapshot, runs placeJob, and records the decision in status and an event.

import type { ComputeCluster } from "../../api/computecluster.ts";
import type { TrainingJob } from "../../api/trainingjob.ts";
import {
  type ClusterSnapshot,
  type PlacementDecision,
  type PlacementRequest,
  placeJob,
} from "../../placement/index.ts";
import { isTrue } from "../conditions.ts";

export function placementRequest(job: TrainingJob): PlacementRequest {
  const { replicas, accelerators, placement } = job.spec;
  return {
    replicas,
    accelerators: accelerators.map((a) => ({ type: a.type, perReplica: a.perReplica })),
    clouds: placement.clouds,
    clusters: placement.clusters,
    capacityType: placement.capacityType,
    strategy: placement.strategy,
  };
}

export function clusterSnapshot(cc: ComputeCluster): ClusterSnapshot {
  return {
    name: cc.metadata.name ?? "",
    cloud: cc.spec.cloud,
    ready: isTrue(cc.status?.conditions, "Ready"),
    paused: cc.spec.paused,
    nodeGroups: (cc.status?.nodeGroups ?? []).flatMap((g) =>
      g.name && g.instanceType && g.accelerator && g.capacityType
        ? [
            {
              name: g.name,
              instanceType: g.instanceType,
              accelerator: g.accelerator,
              devicesPerNode: g.devicesPerNode ?? 0,
              capacityType: g.capacityType,
              nodes: g.nodes ?? 0,
              readyNodes: g.readyNodes ?? 0,
              freeNodes: g.freeNodes ?? 0,
              minSize: g.minSize ?? 0,
              maxSize: g.maxSize ?? g.nodes ?? 0,
              desiredSize: g.desiredSize ?? g.nodes ?? 0,
              autoscalerOwned: g.autoscaled ?? false,
              ...(g.pricePerHour ? { pricePerHour: g.pricePerHour } : {}),
            },
          ]
        : [],
    ),
  };
}

export function decidePlacement(job: TrainingJob, clusters: readonly ComputeCluster[]): PlacementDecision {
  return placeJob(placementRequest(job), clusters.map(clusterSnapshot));
}
