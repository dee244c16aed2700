// A worker cluster's capacity per node group, read from its nodes and pods:
// nodes, ready nodes, and free nodes (ready, with every accelerator device
// unallocated), with the accelerator and price from the catalog. Pure.

import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { NodeGroupStatus } from "../../api/computecluster.ts";
import { type Catalog, formatPrice, type Micros, nodeFactsFromLabels } from "../../catalog/index.ts";
import { LABEL_EPOCH, LABEL_JOB_UID } from "../../workload/names.ts";

function isReady(node: V1Node): boolean {
  return (
    !node.spec?.unschedulable && (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

/** Nodes on which some pod that has not finished requests an accelerator device. */
function nodesWithDevicesInUse(pods: readonly V1Pod[], deviceResources: ReadonlySet<string>): Set<string> {
  const busy = new Set<string>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    const requests = pod.spec?.containers.flatMap((c) => Object.keys(c.resources?.requests ?? {})) ?? [];
    if (requests.some((r) => deviceResources.has(r))) busy.add(node);
  }
  return busy;
}

type GroupAccumulator = { -readonly [K in keyof NodeGroupStatus]: NodeGroupStatus[K] };

export function nodeGroupsFrom(
  nodes: readonly V1Node[],
  pods: readonly V1Pod[],
  catalog: Catalog,
  prices: ReadonlyMap<string, Micros> = new Map(),
): NodeGroupStatus[] {
  const groups = new Map<string, GroupAccumulator>();
  const devices = new Set(["aws.amazon.com/neuron", "nvidia.com/gpu"]);
  const busy = nodesWithDevicesInUse(pods, devices);
  for (const node of nodes) {
    const facts = nodeFactsFromLabels(node.metadata?.labels ?? {}, catalog);
    if (!facts.nodeGroup || !facts.instanceType || !facts.accelerator) continue;
    const key = `${facts.nodeGroup}/${facts.instanceType}`;
    let g = groups.get(key);
    if (!g) {
      const price = catalog.price(facts.instanceType, facts.capacityType, prices);
      g = {
        name: facts.nodeGroup,
        instanceType: facts.instanceType,
        accelerator: facts.accelerator,
        devicesPerNode: facts.devices ?? 0,
        capacityType: facts.capacityType,
        nodes: 0,
        readyNodes: 0,
        freeNodes: 0,
        autoscaled: facts.autoscalerOwned,
        ...(price ? { pricePerHour: formatPrice(price.perNodeHour) } : {}),
      };
      groups.set(key, g);
    }
    g.nodes = (g.nodes ?? 0) + 1;
    if (!isReady(node)) continue;
    g.readyNodes = (g.readyNodes ?? 0) + 1;
    if (!busy.has(node.metadata?.name ?? "")) g.freeNodes = (g.freeNodes ?? 0) + 1;
  }
  return [...groups.values()].sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
}

/**
 * Pods of TrainingJob placements that hold a node (bound to one, not finished), by
 * "<job uid>/<epoch>": from the same pods as the free nodes, so that a placement's pods are counted
 * either as holding nodes here or as not free there, never both and never neither.
 */
export function boundPodsByPlacement(pods: readonly V1Pod[]): Map<string, number> {
  const bound = new Map<string, number>();
  for (const pod of pods) {
    const labels = pod.metadata?.labels;
    const uid = labels?.[LABEL_JOB_UID];
    if (!uid || !pod.spec?.nodeName || pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
    const key = `${uid}/${labels?.[LABEL_EPOCH] ?? ""}`;
    bound.set(key, (bound.get(key) ?? 0) + 1);
  }
  return bound;
}
