// What a move leaves out of its placement (failover.ts leftOut): the lost
// cluster while it does not answer, the lost group for a while, nothing on a
// drain (a draining cluster takes no placements anyway).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ComputeCluster } from "../../src/api/computecluster.ts";
import { leftOut } from "../../src/controller/trainingjob/failover.ts";
import type { FailoverRecord } from "../../src/controller/trainingjob/failover-trigger.ts";

const at = "2026-11-30T12:00:00.000Z";
const minutes = (m: number) => new Date(Date.parse(at) + m * 60_000);
const aws = {
  metadata: { name: "aws-sim" },
  status: { nodeGroups: [{ name: "trn1" }, { name: "p5" }] },
} as unknown as ComputeCluster;

describe("leftOut", () => {
  const cases: {
    name: string;
    move: FailoverRecord;
    answers: boolean;
    now: Date;
    want: { cluster: string; nodeGroup: string }[];
  }[] = [
    {
      name: "ClusterLost, the cluster still silent: all its groups",
      move: { epoch: 2, from: "aws-sim/trn1", reason: "ClusterLost", at },
      answers: false,
      now: minutes(1),
      want: [
        { cluster: "aws-sim", nodeGroup: "trn1" },
        { cluster: "aws-sim", nodeGroup: "p5" },
      ],
    },
    {
      name: "ClusterLost, the cluster answers again: nothing (it may take the job back)",
      move: { epoch: 2, from: "aws-sim/trn1", reason: "ClusterLost", at },
      answers: true,
      now: minutes(1),
      want: [],
    },
    {
      name: "CapacityLost within twice unschedulableTimeout of the trouble: the lost group",
      move: { epoch: 2, from: "aws-sim/trn1", reason: "CapacityLost", at },
      answers: true,
      now: minutes(9),
      want: [{ cluster: "aws-sim", nodeGroup: "trn1" }],
    },
    {
      name: "CapacityLost later: nothing, capacity that came back is used",
      move: { epoch: 2, from: "aws-sim/trn1", reason: "CapacityLost", at },
      answers: true,
      now: minutes(10),
      want: [],
    },
    {
      name: "Drained: nothing",
      move: { epoch: 2, from: "aws-sim/trn1", reason: "Drained", at },
      answers: true,
      now: minutes(1),
      want: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(leftOut(c.move, aws, c.answers, c.now, 5 * 60_000), c.want);
    });
  }
});
