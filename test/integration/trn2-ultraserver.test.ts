// A Trn2 UltraServer job with topology Required through the real operator:
// placed on aws-sim's trn2u group (one UltraServer of 4 nodes, on a Capacity
// Block), each pod created under the operator's scheduling gate, pinned to
// the node whose ultraserver-node-id-4 is its completion index as the gate is
// lifted, and running there with the UltraServer env.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ULTRASERVER_GATE } from "../../src/workload/topology.ts";
import { withOperator } from "../support/operator.ts";
import { clients, eventually } from "../support/sandbox.ts";
import { aTrainingJob } from "../support/trainingjob.ts";
import { workloadOf } from "../support/trainingjobs.ts";

const SERVER = "neuron.amazonaws.com/ultraserver-server-id-4";
const NODE_ID = "neuron.amazonaws.com/ultraserver-node-id-4";
const INDEX = "batch.kubernetes.io/job-completion-index";

describe("Trn2 UltraServer: each replica on the node its NODE_ID names", { timeout: 300_000 }, () => {
  const { tjs } = withOperator("trn2u", {}, async (t) => {
    await t.deleteAndWait("ultra").catch(() => {});
  });
  const aws = clients("aws-sim");

  it("pins replica i to the node labelled ultraserver-node-id-4=i and lifts the gate", async () => {
    await tjs.create(
      aTrainingJob("ultra")
        .replicas(4)
        .accelerator("trainium2", 16)
        .with((j) => {
          j.spec.placement.clouds = ["aws"];
          j.spec.placement.topology = "Required";
          j.spec.placement.capacityType = "Reserved";
          j.spec.template.metadata = { annotations: { "sandbox.crosscloud.dev/run-for": "900s" } };
        })
        .obj(),
    );
    const job = await tjs.waitForPhase("ultra", "Running", [], 120_000);
    const p = job.status?.placement;
    assert.equal(`${p?.cluster}/${p?.nodeGroup}`, "aws-sim/trn2u");
    assert.equal(p?.domainKey, SERVER);
    const server = p?.domains?.[0] ?? "";

    const { pods } = await eventually(
      "4 pods bound on aws-sim",
      () => workloadOf("aws-sim", job.metadata.uid ?? ""),
      (w) => w.pods.filter((x) => x.spec?.nodeName).length === 4,
    );
    const nodes = new Map(
      (await aws.core.listNode({ labelSelector: "eks.amazonaws.com/nodegroup=trn2u" })).items.map((n) => [
        n.metadata?.name ?? "",
        n.metadata?.labels ?? {},
      ]),
    );
    const indexes: string[] = [];
    for (const pod of pods) {
      const name = pod.metadata?.name;
      const index = pod.metadata?.annotations?.[INDEX] ?? "";
      indexes.push(index);
      assert.equal(pod.spec?.schedulingGates, undefined, `${name}: the gate is lifted`);
      assert.equal(pod.spec?.nodeSelector?.[NODE_ID], index, `${name}: pinned to node-id-4 = its index`);
      const node = nodes.get(pod.spec?.nodeName ?? "") ?? {};
      assert.equal(node[NODE_ID], index, `${name} (index ${index}) runs on the node whose node-id-4 is ${index}`);
      assert.equal(node[SERVER], server, `${name} runs in the chosen UltraServer`);
      const env = Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
      assert.equal(env.NEURON_RT_ULTRASERVER_SERVER_ID, server);
      assert.equal(env.NEURON_RT_ULTRASERVER_MODE, "4");
    }
    assert.deepEqual(indexes.sort(), ["0", "1", "2", "3"]);

    // The job's events say so; the pinning gate is the operator's, not left on any pod.
    const events = await eventually(
      "an UltraServerPinned event",
      () => tjs.events("ultra"),
      (es) => es.some((e) => e.reason === "UltraServerPinned"),
    );
    const pinned = events.filter((e) => e.reason === "UltraServerPinned").map((e) => e.message ?? "");
    assert.ok(
      pinned.every((m) => m.includes(NODE_ID)),
      pinned.join("\n"),
    );
    assert.ok(!pods.some((x) => x.spec?.schedulingGates?.some((g) => g.name === ULTRASERVER_GATE)));
  });
});
