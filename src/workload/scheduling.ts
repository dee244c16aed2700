// Where a replica may land on the worker: the node selector of the chosen node
// group and the tolerations its nodes' taints need (CLOUD-FACTS.md, "Node
// labels and taints"), for EKS managed node groups and AKS agent pools.

import type { V1Toleration } from "@kubernetes/client-node";
import { type Cloud, GPU_RESOURCE, type InstanceType, NEURON_RESOURCE } from "../catalog/instance-types.ts";

export interface NodeGroupTarget {
  readonly cloud: Cloud;
  readonly nodeGroup: string;
  readonly instanceType: InstanceType;
  readonly capacityType: "OnDemand" | "Spot";
}

export function nodeSelectorFor(t: NodeGroupTarget): Record<string, string> {
  const groupLabel = t.cloud === "aws" ? "eks.amazonaws.com/nodegroup" : "kubernetes.azure.com/agentpool";
  return { "node.kubernetes.io/instance-type": t.instanceType.name, [groupLabel]: t.nodeGroup };
}

export function tolerationsFor(t: NodeGroupTarget): V1Toleration[] {
  if (t.cloud === "azure") {
    const tolerations: V1Toleration[] = [{ key: "sku", operator: "Equal", value: "gpu", effect: "NoSchedule" }];
    if (t.capacityType === "Spot") {
      tolerations.push({
        key: "kubernetes.azure.com/scalesetpriority",
        operator: "Equal",
        value: "spot",
        effect: "NoSchedule",
      });
    }
    return tolerations;
  }
  const key = t.instanceType.deviceResource === NEURON_RESOURCE ? NEURON_RESOURCE : GPU_RESOURCE;
  return [{ key, operator: "Exists", effect: "NoSchedule" }];
}
