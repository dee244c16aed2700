// placeJob's filters, one table row per rule: cloud and cluster limits,
// paused or unready clusters, accelerator match, devices per node, capacity
// type, fits now or after a scale-up within max, autoscaler-owned groups.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placeJob } from "../../src/placement/index.ts";
import type {
  ClusterSnapshot,
  PlacementOutcome,
  PlacementRequest,
  RejectionReason,
} from "../../src/placement/types.ts";
import { aCluster, aJob, ndh100, p5, sandboxSnapshot, trn1 } from "../support/builders.ts";

interface Row {
  readonly name: string;
  readonly request: PlacementRequest;
  readonly snapshot: ClusterSnapshot[];
  readonly outcome: PlacementOutcome;
  /** cluster/group of the winner, if any. */
  readonly winner?: string;
  /** A rejection expected among the rejected: reason and cluster[/group]. */
  readonly rejected?: readonly [RejectionReason, string];
  /** Text the reason must contain. */
  readonly reasonIncludes?: string;
}

const rows: Row[] = [
  {
    name: "a Trainium-first job lands on aws-sim/trn1 when it is free",
    request: aJob(4).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).obj(),
    snapshot: sandboxSnapshot(),
    outcome: "Placed",
    winner: "aws-sim/trn1",
  },
  {
    name: "clouds limit: azure only skips aws-sim",
    request: aJob(2).accelerator("nvidia-h100", 8).clouds("azure").obj(),
    snapshot: sandboxSnapshot(),
    outcome: "Placed",
    winner: "azure-sim/ndh100",
    rejected: ["CloudNotAllowed", "aws-sim"],
  },
  {
    name: "clusters allow-list",
    request: aJob(2).accelerator("nvidia-h100", 8).clusters("azure-sim").obj(),
    snapshot: sandboxSnapshot(),
    outcome: "Placed",
    winner: "azure-sim/ndh100",
    rejected: ["ClusterNotAllowed", "aws-sim"],
  },
  {
    name: "no cluster allowed",
    request: aJob(2).accelerator("nvidia-h100", 8).clusters("gcp-1").obj(),
    snapshot: sandboxSnapshot(),
    outcome: "NoClusterAllowed",
    reasonIncludes: "placement.clusters",
  },
  {
    name: "a paused cluster takes no placement",
    request: aJob(2).accelerator("trainium1", 16).obj(),
    snapshot: [aCluster("aws-sim").paused().group(trn1()).obj()],
    outcome: "AllClustersUnavailable",
    rejected: ["ClusterPaused", "aws-sim"],
  },
  {
    name: "an unready cluster is skipped for the next one",
    request: aJob(2).accelerator("nvidia-h100", 8).obj(),
    snapshot: [aCluster("aws-sim").notReady().group(p5()).obj(), aCluster("azure-sim").group(ndh100()).obj()],
    outcome: "Placed",
    winner: "azure-sim/ndh100",
    rejected: ["ClusterNotReady", "aws-sim"],
  },
  {
    name: "no cluster offers the accelerator",
    request: aJob(2).accelerator("nvidia-l40s", 8).obj(),
    snapshot: sandboxSnapshot(),
    outcome: "NoClusterOffersAccelerator",
    rejected: ["AcceleratorNotRequested", "aws-sim/trn1"],
    reasonIncludes: "offer none of the job's accelerators",
  },
  {
    name: "perReplica above devicesPerNode (one pod per node)",
    request: aJob(1).accelerator("nvidia-h100", 16).obj(),
    snapshot: sandboxSnapshot(),
    outcome: "NoClusterOffersAccelerator",
    rejected: ["TooFewDevicesPerNode", "aws-sim/p5"],
    reasonIncludes: "a replica needs 16",
  },
  {
    name: "Spot job lands on the spot pool",
    request: aJob(4).accelerator("nvidia-h100", 8).capacity("Spot").obj(),
    snapshot: sandboxSnapshot(),
    outcome: "Placed",
    winner: "azure-sim/ndh100spot",
    rejected: ["CapacityTypeNotAllowed", "azure-sim/ndh100"],
  },
  {
    name: "OnDemand job never takes the spot pool",
    request: aJob(2).accelerator("nvidia-h100", 8).clusters("azure-sim").obj(),
    snapshot: [aCluster("azure-sim").group(ndh100("ndh100spot").spot()).obj()],
    outcome: "NoCapacityTypeMatch",
    rejected: ["CapacityTypeNotAllowed", "azure-sim/ndh100spot"],
  },
  {
    name: "Any accepts spot and on-demand",
    request: aJob(2).accelerator("nvidia-h100", 8).capacity("Any").clusters("azure-sim").obj(),
    snapshot: [aCluster("azure-sim").group(ndh100("ndh100spot").spot().price("39.33")).obj()],
    outcome: "Placed",
    winner: "azure-sim/ndh100spot",
  },
  {
    name: "fits after a scale-up within max",
    request: aJob(6).accelerator("trainium1", 16).obj(),
    snapshot: [aCluster("aws-sim").group(trn1().nodes(4, 2).max(16)).obj()],
    outcome: "NeedsScaleUp",
    winner: "aws-sim/trn1",
  },
  {
    name: "would grow past max: insufficient capacity",
    request: aJob(6).accelerator("trainium1", 16).obj(),
    snapshot: [aCluster("aws-sim").group(trn1().nodes(4, 2).max(4)).obj()],
    outcome: "InsufficientCapacity",
    rejected: ["InsufficientCapacity", "aws-sim/trn1"],
    reasonIncludes: "maxSize is 4",
  },
  {
    name: "autoscaler-owned group: fits now is fine",
    request: aJob(2).accelerator("trainium1", 16).obj(),
    snapshot: [aCluster("aws-sim").group(trn1().nodes(4, 2).autoscalerOwned()).obj()],
    outcome: "Placed",
    winner: "aws-sim/trn1",
  },
  {
    name: "autoscaler-owned group: never scaled by the operator",
    request: aJob(3).accelerator("trainium1", 16).obj(),
    snapshot: [aCluster("aws-sim").group(trn1().nodes(4, 2).autoscalerOwned()).obj()],
    outcome: "InsufficientCapacity",
    rejected: ["AutoscalerOwned", "aws-sim/trn1"],
    reasonIncludes: "autoscaler owns its size",
  },
  {
    name: "a group whose nodes never arrived is not chosen again",
    request: aJob(6).accelerator("trainium1", 16).accelerator("nvidia-h100", 8).exclude("aws-sim", "trn1").obj(),
    snapshot: sandboxSnapshot(),
    outcome: "NeedsScaleUp",
    winner: "aws-sim/p5",
    rejected: ["PreviouslyFailed", "aws-sim/trn1"],
  },
  {
    name: "invalid request: no accelerators",
    request: aJob(2).obj(),
    snapshot: sandboxSnapshot(),
    outcome: "InvalidRequest",
    reasonIncludes: "at least one",
  },
  {
    name: "invalid request: zero replicas",
    request: aJob(0).accelerator("trainium1", 16).obj(),
    snapshot: sandboxSnapshot(),
    outcome: "InvalidRequest",
    reasonIncludes: "replicas must be >= 1",
  },
];

describe("placeJob filters", () => {
  for (const row of rows) {
    it(row.name, () => {
      const d = placeJob(row.request, row.snapshot);
      assert.equal(d.outcome, row.outcome, d.reason);
      const winner = d.winner && `${d.winner.cluster}/${d.winner.nodeGroup}`;
      assert.equal(winner, row.winner, d.reason);
      if (row.rejected) {
        const [reason, where] = row.rejected;
        const found = d.rejected.find(
          (r) => r.reason === reason && [r.cluster, r.nodeGroup].filter(Boolean).join("/") === where,
        );
        assert.ok(found, `expected ${reason} for ${where}; got ${JSON.stringify(d.rejected)}`);
      }
      if (row.reasonIncludes)
        assert.match(d.reason, new RegExp(row.reasonIncludes.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    });
  }

  it("scale-up asks for exactly the missing nodes", () => {
    const d = placeJob(aJob(6).accelerator("trainium1", 16).obj(), [
      aCluster("aws-sim").group(trn1().nodes(4, 2)).obj(),
    ]);
    assert.equal(d.winner?.scaleUpTo, 8);
  });

  it("a scale-up already in flight is not asked for twice", () => {
    const group = trn1().nodes(4, 2).desired(8);
    const d = placeJob(aJob(6).accelerator("trainium1", 16).obj(), [aCluster("aws-sim").group(group).obj()]);
    assert.equal(d.winner?.scaleUpTo, 8);
  });
});
