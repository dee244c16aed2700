// Which readers a ComputeCluster event concerns: a heartbeat alone wakes
// nobody; capacity wakes jobs waiting for placement; reachability and drain
// wake the jobs placed there; a spec change wakes everyone.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import { type ClusterChange, ClusterChanges } from "../../src/controller/cluster-changes.ts";

function cluster(mutate: (cc: ComputeCluster) => void = () => {}): ComputeCluster {
  const cc = {
    apiVersion: "training.crosscloud.dev/v1alpha1",
    kind: "ComputeCluster",
    metadata: { name: "aws-sim", generation: 1 },
    spec: { cloud: "aws", checkpointStore: { s3: { bucket: "b" } } },
    status: {
      lastHeartbeatTime: "2026-11-30T10:00:00Z",
      conditions: [
        {
          type: "Reachable",
          status: "True",
          reason: "Heartbeat",
          message: "answered",
          lastTransitionTime: "2026-11-30T09:00:00Z",
        },
        {
          type: "Ready",
          status: "True",
          reason: "Ready",
          message: "1 node groups, 4 nodes ready",
          lastTransitionTime: "2026-11-30T09:00:00Z",
        },
      ],
      nodeGroups: [{ name: "trn1", nodes: 4, freeNodes: 4 }],
    },
  } as unknown as ComputeCluster;
  mutate(cc);
  return cc;
}

const none: ClusterChange = { spec: false, placement: false, placed: false };
const all: ClusterChange = { spec: true, placement: true, placed: true };

const cases: { name: string; next: ComputeCluster; want: ClusterChange }[] = [
  { name: "the same object again", next: cluster(), want: none },
  {
    name: "only the heartbeat time moved",
    next: cluster((cc) => {
      if (cc.status) cc.status.lastHeartbeatTime = "2026-11-30T10:00:30Z";
    }),
    want: none,
  },
  {
    name: "free nodes changed (a pod landed)",
    next: cluster((cc) => {
      if (cc.status) cc.status.nodeGroups = [{ name: "trn1", nodes: 4, freeNodes: 3 }];
    }),
    want: { spec: false, placement: true, placed: false },
  },
  {
    name: "the cluster stopped answering",
    next: cluster((cc) => {
      const reachable = cc.status?.conditions?.[0];
      if (reachable) Object.assign(reachable, { status: "False", reason: "Unreachable", message: "no answer" });
    }),
    want: { spec: false, placement: true, placed: true },
  },
  {
    name: "drained",
    next: cluster((cc) => {
      cc.spec.drain = true;
      cc.metadata.generation = 2;
    }),
    want: all,
  },
];

describe("ClusterChanges", () => {
  for (const c of cases) {
    it(`${c.name}: ${JSON.stringify(c.want)}`, () => {
      const changes = new ClusterChanges();
      assert.deepEqual(changes.update(cluster(), false), all, "the first sight of a cluster is news to all");
      assert.deepEqual(changes.update(c.next, false), c.want);
    });
  }

  it("a deletion is news to all, and the cluster is new again after it", () => {
    const changes = new ClusterChanges();
    changes.update(cluster(), false);
    assert.deepEqual(changes.update(cluster(), true), all);
    assert.deepEqual(changes.update(cluster(), false), all);
  });
});
