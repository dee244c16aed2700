// ultraServerPin (table test): the patch that pins a gated UltraServer pod to
// the node whose ultraserver-node-id-4 is its completion index and lifts the
// operator's gate, and the pods it leaves alone.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { ULTRASERVER_GATE, ultraServerPin } from "../../src/workload/topology.ts";

const INDEX = "batch.kubernetes.io/job-completion-index";
const NODE_ID = "neuron.amazonaws.com/ultraserver-node-id-4";

function pod(o: { index?: string; gates?: string[]; deleting?: boolean }): V1Pod {
  return {
    metadata: {
      name: "big-e1-2-x",
      namespace: "ml",
      ...(o.index !== undefined ? { annotations: { [INDEX]: o.index } } : {}),
      ...(o.deleting ? { deletionTimestamp: new Date(0) } : {}),
    },
    spec: { containers: [], ...(o.gates ? { schedulingGates: o.gates.map((name) => ({ name })) } : {}) },
  };
}

describe("ultraServerPin", () => {
  const cases: { name: string; pod: V1Pod; patch: object | undefined }[] = [
    {
      name: "gated, index 2: node-id-4=2 and the gate removed by name",
      pod: pod({ index: "2", gates: [ULTRASERVER_GATE] }),
      patch: {
        spec: { nodeSelector: { [NODE_ID]: "2" }, schedulingGates: [{ $patch: "delete", name: ULTRASERVER_GATE }] },
      },
    },
    {
      name: "another gate beside ours: only ours is removed (the patch names it)",
      pod: pod({ index: "0", gates: ["example.com/quota", ULTRASERVER_GATE] }),
      patch: {
        spec: { nodeSelector: { [NODE_ID]: "0" }, schedulingGates: [{ $patch: "delete", name: ULTRASERVER_GATE }] },
      },
    },
    { name: "not gated (pinned already)", pod: pod({ index: "1" }), patch: undefined },
    { name: "only another gate", pod: pod({ index: "1", gates: ["example.com/quota"] }), patch: undefined },
    { name: "no completion index", pod: pod({ gates: [ULTRASERVER_GATE] }), patch: undefined },
    { name: "an index that is not a number", pod: pod({ index: "x", gates: [ULTRASERVER_GATE] }), patch: undefined },
    { name: "being deleted", pod: pod({ index: "1", gates: [ULTRASERVER_GATE], deleting: true }), patch: undefined },
  ];
  for (const tc of cases) it(tc.name, () => assert.deepEqual(ultraServerPin(tc.pod), tc.patch));
});
