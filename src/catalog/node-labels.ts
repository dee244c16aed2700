// Reads what a worker node is from its labels: instance type, node group,
// accelerator, devices and capacity type, using the labels EKS managed node
// groups, Karpenter and AKS put on nodes (CLOUD-FACTS.md, "Node labels").

import type { CapacityType, Catalog } from "./catalog.ts";
import type { AcceleratorType } from "./instance-types.ts";

export const LABELS = {
  instanceType: "node.kubernetes.io/instance-type",
  eksNodeGroup: "eks.amazonaws.com/nodegroup",
  eksCapacityType: "eks.amazonaws.com/capacityType",
  karpenterNodePool: "karpenter.sh/nodepool",
  karpenterCapacityType: "karpenter.sh/capacity-type",
  karpenterAcceleratorName: "karpenter.k8s.aws/instance-accelerator-name",
  karpenterAcceleratorCount: "karpenter.k8s.aws/instance-accelerator-count",
  karpenterGpuName: "karpenter.k8s.aws/instance-gpu-name",
  karpenterGpuCount: "karpenter.k8s.aws/instance-gpu-count",
  aksAgentPool: "kubernetes.azure.com/agentpool",
  aksPriority: "kubernetes.azure.com/scalesetpriority",
} as const;

/** What the labels say about a node; a field is absent when no label tells it. */
export interface NodeFacts {
  readonly instanceType?: string;
  /** EKS node group, Karpenter NodePool or AKS agent pool. */
  readonly nodeGroup?: string;
  readonly accelerator?: AcceleratorType;
  readonly devices?: number;
  readonly capacityType: CapacityType;
  /** True for Karpenter nodes: Karpenter, not the operator, decides how many there are. */
  readonly autoscalerOwned: boolean;
}

/**
 * OnDemand unless a label says otherwise: Spot for EKS `SPOT`, Karpenter `spot`, AKS `spot`;
 * Reserved for EKS `CAPACITY_BLOCK` and Karpenter `reserved` (capacity paid for whether used or not).
 */
function capacityTypeOf(labels: Readonly<Record<string, string>>): CapacityType {
  const eks = labels[LABELS.eksCapacityType];
  const karpenter = labels[LABELS.karpenterCapacityType];
  if (eks === "CAPACITY_BLOCK" || karpenter === "reserved") return "Reserved";
  if (eks === "SPOT" || karpenter === "spot" || labels[LABELS.aksPriority] === "spot") return "Spot";
  return "OnDemand";
}

const KARPENTER_GPUS: Readonly<Record<string, AcceleratorType>> = {
  h100: "nvidia-h100",
  h200: "nvidia-h200",
  a100: "nvidia-a100",
  a10g: "nvidia-a10g",
  l40s: "nvidia-l40s",
};

/** Karpenter's accelerator labels, for instance types the catalog does not know. */
function fromKarpenter(labels: Readonly<Record<string, string>>): Pick<NodeFacts, "accelerator" | "devices"> {
  const gpu = labels[LABELS.karpenterGpuName];
  if (gpu && KARPENTER_GPUS[gpu]) {
    return { accelerator: KARPENTER_GPUS[gpu], devices: Number(labels[LABELS.karpenterGpuCount]) || undefined };
  }
  if (labels[LABELS.karpenterAcceleratorName] === "trainium") {
    const trn2 = (labels[LABELS.instanceType] ?? "").startsWith("trn2");
    return {
      accelerator: trn2 ? "trainium2" : "trainium1",
      devices: Number(labels[LABELS.karpenterAcceleratorCount]) || undefined,
    };
  }
  return {};
}

/** Facts about a node from its labels; the catalog first, Karpenter's labels for types it does not know. */
export function nodeFactsFromLabels(labels: Readonly<Record<string, string>>, catalog: Catalog): NodeFacts {
  const instanceType = labels[LABELS.instanceType];
  const entry = instanceType ? catalog.get(instanceType) : undefined;
  const accel = entry ? { accelerator: entry.accelerator, devices: entry.devices } : fromKarpenter(labels);
  const nodeGroup = labels[LABELS.eksNodeGroup] ?? labels[LABELS.karpenterNodePool] ?? labels[LABELS.aksAgentPool];
  const facts: NodeFacts = {
    capacityType: capacityTypeOf(labels),
    autoscalerOwned: labels[LABELS.karpenterNodePool] !== undefined,
    ...(instanceType ? { instanceType } : {}),
    ...(nodeGroup ? { nodeGroup } : {}),
    ...(accel.accelerator ? { accelerator: accel.accelerator } : {}),
    ...(accel.devices ? { devices: accel.devices } : {}),
  };
  return facts;
}
