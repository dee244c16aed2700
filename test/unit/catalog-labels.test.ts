// What a node's labels say about it, for EKS managed node groups, Karpenter
// and AKS (CLOUD-FACTS.md, "Node labels and taints").

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Catalog } from "../../src/catalog/catalog.ts";
import { type NodeFacts, nodeFactsFromLabels } from "../../src/catalog/node-labels.ts";

const catalog = Catalog.builtIn();
const rows: [string, Record<string, string>, NodeFacts][] = [
  [
    "EKS managed node group, on-demand trn1",
    {
      "node.kubernetes.io/instance-type": "trn1.32xlarge",
      "eks.amazonaws.com/nodegroup": "trn1",
      "eks.amazonaws.com/capacityType": "ON_DEMAND",
    },
    {
      instanceType: "trn1.32xlarge",
      nodeGroup: "trn1",
      accelerator: "trainium1",
      devices: 16,
      capacityType: "OnDemand",
      autoscalerOwned: false,
    },
  ],
  [
    "EKS spot p5",
    {
      "node.kubernetes.io/instance-type": "p5.48xlarge",
      "eks.amazonaws.com/nodegroup": "p5s",
      "eks.amazonaws.com/capacityType": "SPOT",
    },
    {
      instanceType: "p5.48xlarge",
      nodeGroup: "p5s",
      accelerator: "nvidia-h100",
      devices: 8,
      capacityType: "Spot",
      autoscalerOwned: false,
    },
  ],
  [
    "EKS capacity block is Reserved",
    { "node.kubernetes.io/instance-type": "p5.48xlarge", "eks.amazonaws.com/capacityType": "CAPACITY_BLOCK" },
    {
      instanceType: "p5.48xlarge",
      accelerator: "nvidia-h100",
      devices: 8,
      capacityType: "Reserved",
      autoscalerOwned: false,
    },
  ],
  [
    "EKS managed node group of GB200 UltraServer nodes on a capacity block",
    {
      "node.kubernetes.io/instance-type": "p6e-gb200.36xlarge",
      "eks.amazonaws.com/nodegroup": "gb200",
      "eks.amazonaws.com/capacityType": "CAPACITY_BLOCK",
      "nvidia.com/gpu.clique": "0f4c2a1e-7d4b-4b8e-9a51-3c2d1e0f9a8b.1",
    },
    {
      instanceType: "p6e-gb200.36xlarge",
      nodeGroup: "gb200",
      accelerator: "nvidia-gb200",
      devices: 4,
      capacityType: "Reserved",
      autoscalerOwned: false,
    },
  ],
  [
    "Karpenter reserved capacity block of B200",
    {
      "node.kubernetes.io/instance-type": "p6-b200.48xlarge",
      "karpenter.sh/nodepool": "b200",
      "karpenter.sh/capacity-type": "reserved",
      "karpenter.k8s.aws/capacity-reservation-type": "capacity-block",
      "karpenter.k8s.aws/capacity-reservation-id": "cr-0123456789abcdef0",
    },
    {
      instanceType: "p6-b200.48xlarge",
      nodeGroup: "b200",
      accelerator: "nvidia-b200",
      devices: 8,
      capacityType: "Reserved",
      autoscalerOwned: true,
    },
  ],
  [
    "Karpenter on-demand stays OnDemand",
    {
      "node.kubernetes.io/instance-type": "p6-b300.48xlarge",
      "karpenter.sh/nodepool": "b300",
      "karpenter.sh/capacity-type": "on-demand",
    },
    {
      instanceType: "p6-b300.48xlarge",
      nodeGroup: "b300",
      accelerator: "nvidia-b300",
      devices: 8,
      capacityType: "OnDemand",
      autoscalerOwned: true,
    },
  ],
  [
    "EKS on-demand stays OnDemand",
    { "node.kubernetes.io/instance-type": "Standard_ND96isr_H200_v5", "eks.amazonaws.com/capacityType": "ON_DEMAND" },
    {
      instanceType: "Standard_ND96isr_H200_v5",
      accelerator: "nvidia-h200",
      devices: 8,
      capacityType: "OnDemand",
      autoscalerOwned: false,
    },
  ],
  [
    "AKS spot pool",
    {
      "node.kubernetes.io/instance-type": "Standard_ND96isr_H100_v5",
      "kubernetes.azure.com/agentpool": "ndh100spot",
      "kubernetes.azure.com/scalesetpriority": "spot",
    },
    {
      instanceType: "Standard_ND96isr_H100_v5",
      nodeGroup: "ndh100spot",
      accelerator: "nvidia-h100",
      devices: 8,
      capacityType: "Spot",
      autoscalerOwned: false,
    },
  ],
  [
    "Karpenter node of a type the catalog lacks: GPU labels",
    {
      "node.kubernetes.io/instance-type": "p6.48xlarge",
      "karpenter.sh/nodepool": "gpu",
      "karpenter.sh/capacity-type": "spot",
      "karpenter.k8s.aws/instance-gpu-name": "h200",
      "karpenter.k8s.aws/instance-gpu-count": "8",
    },
    {
      instanceType: "p6.48xlarge",
      nodeGroup: "gpu",
      accelerator: "nvidia-h200",
      devices: 8,
      capacityType: "Spot",
      autoscalerOwned: true,
    },
  ],
  [
    "Karpenter trn2u (in the catalog) on reserved capacity",
    {
      "node.kubernetes.io/instance-type": "trn2u.48xlarge",
      "karpenter.sh/nodepool": "neuron",
      "karpenter.sh/capacity-type": "reserved",
      "karpenter.k8s.aws/instance-accelerator-name": "trainium",
      "karpenter.k8s.aws/instance-accelerator-count": "16",
    },
    {
      instanceType: "trn2u.48xlarge",
      nodeGroup: "neuron",
      accelerator: "trainium2",
      devices: 16,
      capacityType: "Reserved",
      autoscalerOwned: true,
    },
  ],
  [
    "Karpenter Trainium2 by accelerator name, a type the catalog lacks",
    {
      "node.kubernetes.io/instance-type": "trn2.unlisted",
      "karpenter.sh/nodepool": "neuron",
      "karpenter.sh/capacity-type": "on-demand",
      "karpenter.k8s.aws/instance-accelerator-name": "trainium",
      "karpenter.k8s.aws/instance-accelerator-count": "16",
    },
    {
      instanceType: "trn2.unlisted",
      nodeGroup: "neuron",
      accelerator: "trainium2",
      devices: 16,
      capacityType: "OnDemand",
      autoscalerOwned: true,
    },
  ],
  ["a plain node", { "kubernetes.io/hostname": "n1" }, { capacityType: "OnDemand", autoscalerOwned: false }],
];

describe("nodeFactsFromLabels", () => {
  for (const [name, labels, facts] of rows) {
    it(name, () => assert.deepEqual(nodeFactsFromLabels(labels, catalog), facts));
  }
  it("reads the sandbox's own fake nodes", async () => {
    const { renderNode } = await import("../../scripts/sandbox/nodes.ts");
    const { defaultTopology } = await import("../../scripts/sandbox/topology.ts");
    const azure = defaultTopology({}).clusters.find((c) => c.name === "azure-sim");
    assert.ok(azure?.nodeGroups[1]);
    const node = renderNode(azure, azure.nodeGroups[1], 0);
    const facts = nodeFactsFromLabels(node.metadata?.labels ?? {}, catalog);
    assert.deepEqual([facts.nodeGroup, facts.accelerator, facts.capacityType], ["ndh100spot", "nvidia-h100", "Spot"]);
  });
});
