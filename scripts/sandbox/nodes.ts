// Renders the sandbox's fake nodes: the labels, taints and allocatable
// resources a real EKS managed node group or AKS agent pool node carries
// (CLOUD-FACTS.md), annotated so kwok plays their lifecycle.

import type { V1Node, V1Taint } from "@kubernetes/client-node";
import {
  GPU_RESOURCE,
  type InstanceType,
  instanceType,
  NEURON_RESOURCE,
  NEURONCORE_RESOURCE,
} from "../../src/catalog/instance-types.ts";
import type { ClusterSpec, NodeGroupSpec } from "./topology.ts";

/** kwok manages the nodes that carry this annotation (kwok --manage-nodes-with-annotation-selector). */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
/** Labels the sandbox adds so its tools can find a group's nodes whatever the cloud. */
export const SANDBOX_GROUP_LABEL = "sandbox.crosscloud.dev/node-group";
/** Pods per node: the kubelet's default maxPods. */
const MAX_PODS = "110";

export function nodeName(cluster: ClusterSpec, group: NodeGroupSpec, index: number): string {
  if (cluster.cloud === "azure") {
    // AKS: aks-<pool>-<8 digits>-vmss<6 base-36 digits>
    return `aks-${group.name}-31415926-vmss${index.toString(36).padStart(6, "0")}`;
  }
  // EKS: the EC2 private DNS name of the node's IP.
  const groupIndex = cluster.nodeGroups.indexOf(group) + 1;
  return `ip-10-${groupIndex}-${Math.floor(index / 250)}-${(index % 250) + 4}.ec2.internal`;
}

function zone(cluster: ClusterSpec, index: number): string {
  return cluster.cloud === "azure" ? `${cluster.region}-${(index % 3) + 1}` : `${cluster.region}${"abc"[index % 3]}`;
}

function cloudLabels(cluster: ClusterSpec, group: NodeGroupSpec, type: InstanceType): Record<string, string> {
  const spot = group.capacityType === "Spot";
  if (cluster.cloud === "azure") {
    return {
      "kubernetes.azure.com/agentpool": group.name,
      "kubernetes.azure.com/mode": "user",
      "kubernetes.azure.com/scalesetpriority": spot ? "spot" : "regular",
      ...(type.deviceResource === GPU_RESOURCE ? { "kubernetes.azure.com/accelerator": "nvidia" } : {}),
    };
  }
  return {
    "eks.amazonaws.com/nodegroup": group.name,
    "eks.amazonaws.com/capacityType": spot ? "SPOT" : "ON_DEMAND",
  };
}

function cloudTaints(cluster: ClusterSpec, group: NodeGroupSpec, type: InstanceType): V1Taint[] {
  if (cluster.cloud === "azure") {
    const taints: V1Taint[] = [{ key: "sku", value: "gpu", effect: "NoSchedule" }];
    if (group.capacityType === "Spot") {
      taints.push({ key: "kubernetes.azure.com/scalesetpriority", value: "spot", effect: "NoSchedule" });
    }
    return taints;
  }
  return type.deviceResource === NEURON_RESOURCE
    ? [{ key: NEURON_RESOURCE, effect: "NoSchedule" }]
    : [{ key: GPU_RESOURCE, value: "true", effect: "NoSchedule" }];
}

/** The node's capacity, which the sandbox also reports as allocatable. */
export function nodeResources(type: InstanceType): Record<string, string> {
  const resources: Record<string, string> = {
    cpu: String(type.vcpu),
    memory: `${type.memoryGiB}Gi`,
    pods: MAX_PODS,
    "ephemeral-storage": "1Ti",
    [type.deviceResource]: String(type.devices),
  };
  if (type.neuronCores !== undefined) resources[NEURONCORE_RESOURCE] = String(type.neuronCores);
  if (type.fabric) resources[type.fabric.resource] = String(type.fabric.count);
  return resources;
}

export function renderNode(cluster: ClusterSpec, group: NodeGroupSpec, index: number): V1Node {
  if (!cluster.cloud) throw new Error(`cluster ${cluster.name} is the hub and has no nodes`);
  const type = instanceType(group.instanceType);
  if (type.cloud !== cluster.cloud) {
    throw new Error(
      `node group ${cluster.name}/${group.name}: ${type.name} is an ${type.cloud} instance type, not ${cluster.cloud}`,
    );
  }
  const name = nodeName(cluster, group, index);
  const resources = nodeResources(type);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: "fake" },
      labels: {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": type.name,
        "topology.kubernetes.io/region": cluster.region,
        "topology.kubernetes.io/zone": zone(cluster, index),
        [SANDBOX_GROUP_LABEL]: group.name,
        ...cloudLabels(cluster, group, type),
      },
    },
    spec: { taints: cloudTaints(cluster, group, type) },
    status: { allocatable: resources, capacity: resources },
  };
}

/** Every node a cluster starts with. */
export function renderClusterNodes(cluster: ClusterSpec): V1Node[] {
  return cluster.nodeGroups.flatMap((g) => Array.from({ length: g.count }, (_, i) => renderNode(cluster, g, i)));
}
