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

/**
 * Nodes promised to jobs that are placed but not yet running, by "<cluster>/<nodeGroup>": the
 * ComputeCluster's freeNodes does not show them until their pods land, and without this
 * two jobs placed in one burst could both be given the same free nodes.
 */
export function nodesInFlight(jobs: readonly TrainingJob[], except?: string): Map<string, number> {
  const inFlight = new Map<string, number>();
  for (const j of jobs) {
    const p = j.status?.placement;
    if (!p || j.metadata.uid === except || j.status?.phase !== "Starting") continue;
    const key = `${p.cluster}/${p.nodeGroup}`;
    const waiting = Math.max(0, j.spec.replicas - (j.status?.replicas?.running ?? 0));
    inFlight.set(key, (inFlight.get(key) ?? 0) + waiting);
  }
  return inFlight;
}

export function clusterSnapshot(
  cc: ComputeCluster,
  inFlight: ReadonlyMap<string, number> = new Map(),
): ClusterSnapshot {
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
              freeNodes: Math.max(0, (g.freeNodes ?? 0) - (inFlight.get(`${cc.metadata.name}/${g.name}`) ?? 0)),
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

export function decidePlacement(
  job: TrainingJob,
  clusters: readonly ComputeCluster[],
  jobs: readonly TrainingJob[] = [],
): PlacementDecision {
  const inFlight = nodesInFlight(jobs, job.metadata.uid);
  return placeJob(
    placementRequest(job),
    clusters.map((cc) => clusterSnapshot(cc, inFlight)),
  );
}
