// Pinning the pods of a placement in one Trn2 UltraServer to their nodes: the
// pods start under ULTRASERVER_GATE (render.ts), and each gated pod gets the
// nodeSelector `neuron.amazonaws.com/ultraserver-node-id-4: <completion index>`
// as its gate is lifted, in one strategic merge patch (ultraServerPin), so
// replica i runs on the node the Neuron runtime knows as node i, which its
// NEURON_RT_ULTRASERVER_NODE_ID says.

import type { V1Pod } from "@kubernetes/client-node";
import type { WorkerCluster } from "../../clusters/registry.ts";
import { isForbidden, isNotFound } from "../../runtime/api-errors.ts";
import { ULTRASERVER_GATE, ULTRASERVER_NODE_ID_LABEL, ultraServerPin } from "../../workload/topology.ts";
import type { StatusBuilder } from "./status.ts";

/**
 * Pins every gated pod of the placement and lifts its gate; a pod gone meanwhile is skipped. A
 * Normal event says how many were pinned. A worker that refuses the patch (RBAC without pods
 * patch) gets an error naming what is missing: the pods would wait gated for ever.
 */
export async function pinUltraServerPods(
  worker: WorkerCluster,
  pods: readonly V1Pod[],
  b: StatusBuilder,
): Promise<void> {
  const pinned: string[] = [];
  for (const pod of pods) {
    const body = ultraServerPin(pod);
    if (!body) continue;
    const name = pod.metadata?.name ?? "";
    const namespace = pod.metadata?.namespace ?? "";
    try {
      await worker.core.patchNamespacedPod({ name, namespace, body });
      pinned.push(name);
    } catch (err) {
      if (isNotFound(err)) continue;
      if (isForbidden(err))
        throw new Error(
          `pod ${namespace}/${name} on ${worker.name} waits under the scheduling gate ${ULTRASERVER_GATE}, which the operator cannot lift: its worker identity may not patch pods; apply the current deploy/worker RBAC (or crosscloud-worker chart) there (${err instanceof Error ? err.message : String(err)})`,
          { cause: err },
        );
      throw err;
    }
  }
  if (pinned.length > 0)
    b.event({
      type: "Normal",
      reason: "UltraServerPinned",
      message: `${pinned.length} pod(s) on ${worker.name} pinned each to the UltraServer node whose ${ULTRASERVER_NODE_ID_LABEL} is its completion index, and released to the scheduler: ${pinned.join(", ")}`,
    });
}
