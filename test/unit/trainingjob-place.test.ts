// Mapping the hub's objects to the placement snapshot: ComputeCluster status
// to node groups, and nodes promised to jobs placed but not yet running.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ComputeCluster, NodeGroupStatus } from "../../src/api/computecluster.ts";
import { boundPodsByPlacement } from "../../src/controller/computecluster/capacity.ts";
import {
  clusterSnapshot,
  decidePlacement,
  type LiveCapacity,
  nodesInFlight,
} from "../../src/controller/trainingjob/place.ts";
import { anAwsComputeCluster } from "../support/builders.ts";
import { aTrainingJob } from "../support/trainingjob.ts";

function cluster(name: string, freeNodes: number, ready = true): ComputeCluster {
  return anAwsComputeCluster(
    name,
    {},
    {
      lastHeartbeatTime: new Date().toISOString(),
      conditions: [
        {
          type: "Ready",
          status: ready ? "True" : "False",
          reason: "r",
          message: "m",
          lastTransitionTime: "2026-11-27T00:00:00Z",
        },
      ],
      nodeGroups: [
        {
          name: "trn1",
          instanceType: "trn1.32xlarge",
          accelerator: "trainium1",
          devicesPerNode: 16,
          capacityType: "OnDemand",
          nodes: 8,
          readyNodes: 8,
          freeNodes,
          minSize: 0,
          maxSize: 8,
          desiredSize: 8,
          pricePerHour: "21.50",
        },
      ],
    },
  );
}

const placed = (name: string, phase: "Starting" | "Running", replicas: number, running: number) =>
  aTrainingJob(name)
    .replicas(replicas)
    .accelerator("trainium1", 16)
    .with((j) => {
      j.status = {
        phase,
        placement: { cluster: "aws-sim", nodeGroup: "trn1" },
        replicas: { desired: replicas, running, succeeded: 0, failed: 0 },
      };
    })
    .obj();

describe("placement snapshot", () => {
  const cases = [
    { name: "no jobs in flight", jobs: [], want: 0 },
    { name: "a starting job with none running", jobs: [placed("a", "Starting", 4, 0)], want: 4 },
    { name: "a starting job with some running", jobs: [placed("a", "Starting", 4, 3)], want: 1 },
    { name: "running jobs are already in freeNodes", jobs: [placed("a", "Running", 4, 4)], want: 0 },
    { name: "two starting jobs", jobs: [placed("a", "Starting", 2, 0), placed("b", "Starting", 3, 1)], want: 4 },
  ];
  for (const tc of cases) {
    it(`counts nodes in flight: ${tc.name}`, () => {
      assert.equal(nodesInFlight(tc.jobs).get("aws-sim/trn1") ?? 0, tc.want);
    });
  }

  it("takes nodes in flight off a group's free nodes, never below zero", () => {
    const inFlight = new Map([["aws-sim/trn1", 5]]);
    assert.equal(clusterSnapshot(cluster("aws-sim", 8), inFlight).nodeGroups[0]?.freeNodes, 3);
    assert.equal(clusterSnapshot(cluster("aws-sim", 2), inFlight).nodeGroups[0]?.freeNodes, 0);
  });

  it("does not give two jobs of one burst the same free nodes", () => {
    const first = placed("first", "Starting", 4, 0);
    const second = aTrainingJob("second").replicas(4).accelerator("trainium1", 16).obj();
    const clusters = [cluster("aws-sim", 6)];
    assert.equal(decidePlacement(second, clusters, []).winner?.fit, "Now", "alone it fits");
    assert.notEqual(decidePlacement(second, clusters, [first]).winner?.fit, "Now", "after the first took 4 of the 6");
  });

  it("maps readiness from the Ready condition", () => {
    assert.equal(clusterSnapshot(cluster("x", 1, false)).ready, false);
    assert.equal(clusterSnapshot(cluster("x", 1, true)).ready, true);
  });
});

describe("a stale ComputeCluster status", () => {
  it("is not ready for placement when its last heartbeat is older than a minute", () => {
    const cc = cluster("x", 1, true);
    const now = new Date(Date.parse(cc.status?.lastHeartbeatTime ?? "") + 61_000);
    assert.equal(clusterSnapshot(cc, new Map(), new Map(), now).ready, false);
    assert.equal(clusterSnapshot(cc, new Map(), new Map(), new Date(now.getTime() - 2_000)).ready, true);
  });
});

describe("decisions not yet in the informer (the placer's assumptions)", () => {
  const job = () => aTrainingJob("next").replicas(1).accelerator("trainium1", 16).obj();
  /** aws-sim with trn1 at `nodes` nodes of at most 16, `free` of them free. */
  const growable = (free: number, nodes = 4) => {
    const cc = cluster("aws-sim", free);
    const g = cc.status?.nodeGroups?.[0];
    if (g) Object.assign(g, { nodes, readyNodes: nodes, desiredSize: nodes, maxSize: 16 });
    return cc;
  };
  const none = new Map<string, number>();
  const cases: {
    name: string;
    free: number;
    nodes?: number;
    placed?: number;
    scaling?: number;
    want: { fit: string | undefined; scaleUpTo?: number };
  }[] = [
    { name: "nothing assumed: a free node", free: 1, want: { fit: "Now" } },
    {
      name: "the free node assumed by another job: a scale-up",
      free: 1,
      placed: 1,
      want: { fit: "AfterScaleUp", scaleUpTo: 5 },
    },
    {
      name: "another job's scale-up assumed: ask for one more on top of it",
      free: 0,
      scaling: 1,
      want: { fit: "AfterScaleUp", scaleUpTo: 6 },
    },
    {
      name: "the node another job's scale-up added is not taken: ask for one more",
      free: 1,
      nodes: 5,
      scaling: 1,
      want: { fit: "AfterScaleUp", scaleUpTo: 6 },
    },
    {
      name: "two grown nodes, one waited for: this job takes the other",
      free: 2,
      nodes: 6,
      scaling: 1,
      want: { fit: "Now" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const assumed = {
        placed: c.placed ? new Map([["aws-sim/trn1", c.placed]]) : none,
        scaling: c.scaling ? new Map([["aws-sim/trn1", c.scaling]]) : none,
      };
      const w = decidePlacement(job(), [growable(c.free, c.nodes)], [], [], assumed).winner;
      assert.equal(w?.fit, c.want.fit);
      if (c.want.scaleUpTo !== undefined) assert.equal(w?.scaleUpTo, c.want.scaleUpTo);
    });
  }
});

describe("capacity from the worker's informers (LiveCapacity)", () => {
  /** aws-sim's trn1 group as its informers show it now, and the bound pods of the placement "a/1". */
  const live = (free: number, boundA: number): LiveCapacity =>
    new Map([
      [
        "aws-sim",
        {
          groups: [
            {
              name: "trn1",
              instanceType: "trn1.32xlarge",
              nodes: 8,
              readyNodes: 8,
              freeNodes: free,
            } as NodeGroupStatus,
          ],
          bound: new Map([["a/1", boundA]]),
        },
      ],
    ]);
  const jobA = (phase: "Starting" | "Running", running: number) => {
    const j = placed("a", phase, 4, running);
    j.metadata.uid = "a";
    return j;
  };
  const cases: {
    name: string;
    status: number;
    live?: LiveCapacity;
    a: ReturnType<typeof jobA>;
    need: number;
    fits: boolean;
  }[] = [
    {
      name: "a Starting job whose 4 pods are bound but 1 reported running: counted once, not twice",
      status: 4,
      live: live(4, 4),
      a: jobA("Starting", 1),
      need: 4,
      fits: true,
    },
    {
      name: "the same from the ComputeCluster's status alone: its 3 unreported pods count twice",
      status: 4,
      a: jobA("Starting", 1),
      need: 4,
      fits: false,
    },
    {
      name: "a status written before a Running job's 4 pods were bound (8 free): the informers show 4",
      status: 8,
      live: live(4, 4),
      a: jobA("Running", 4),
      need: 5,
      fits: false,
    },
    {
      name: "the same without synced informers: the stale status is all there is (the nodes look free)",
      status: 8,
      a: jobA("Running", 4),
      need: 5,
      fits: true,
    },
    {
      name: "pods not bound yet are still in flight",
      status: 8,
      live: live(8, 0),
      a: jobA("Starting", 0),
      need: 5,
      fits: false,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const next = aTrainingJob("next").replicas(tc.need).accelerator("trainium1", 16).obj();
      const clusters = [cluster("aws-sim", tc.status)];
      const decision = decidePlacement(next, clusters, [tc.a], [], undefined, new Date(), tc.live);
      assert.equal(decision.winner?.fit === "Now", tc.fits, decision.reason);
    });
  }

  it("counts a placement's pods that hold a node, from the capacity pods", () => {
    const pod = (uid: string, epoch: string, node: string | undefined, phase = "Running") => ({
      metadata: { labels: { "training.crosscloud.dev/job-uid": uid, "training.crosscloud.dev/epoch": epoch } },
      spec: { containers: [], ...(node ? { nodeName: node } : {}) },
      status: { phase },
    });
    const bound = boundPodsByPlacement([
      pod("a", "1", "n1"),
      pod("a", "1", "n2"),
      pod("a", "1", undefined, "Pending"),
      pod("a", "2", "n3"),
      pod("b", "1", "n4", "Succeeded"),
      { metadata: {}, spec: { containers: [], nodeName: "n5" }, status: { phase: "Running" } },
    ]);
    assert.deepEqual(
      [...bound],
      [
        ["a/1", 2],
        ["a/2", 1],
      ],
    );
  });
});
